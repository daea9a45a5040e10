"""A local stand-in for the Gemini, Groq and OpenAI-compatible HTTP APIs, for tests
and benchmarks.

It speaks the subset of the wire formats our backends use, so the *real* SDKs
can be pointed at it through their base URL:

- Gemini: ``POST /v1beta/models/{model}:generateContent`` (the google-genai SDK; v1 too)
- Groq:   ``POST /openai/v1/chat/completions`` (the groq SDK, OpenAI format)
- OpenAI-compatible (vLLM, Ollama, llama.cpp...): ``POST /v1/chat/completions`` (the
  openai SDK with ``base_url=stub.url + "/v1"``), including ``response_format``
  json_schema, and a 400 for it when ``reject_response_format`` is set, as servers
  without structured output answer.

Answers come from a ``responder(request) -> str`` the caller supplies, so any task
can script its teacher. A fault plan injects what real APIs do on bad days: 429
with retry-after, 5xx, slow answers, malformed JSON, wrong ids, values outside the
allowed set, and daily quotas (``requests_per_day``, or ``Fault.daily_quota``) in
each vendor's own words: Gemini's QuotaFailure with a per-day quota id, Groq's
"requests per day (RPD)" message with a long retry-after. Successful Groq and OpenAI
answers carry ``x-ratelimit-*`` headers. Every request is recorded for assertions
(never the API key itself, only whether one was sent).

    with StubServer(responder, latency_s=0.3) as stub:
        backend = make_backend("groq", api_key="test", base_url=stub.url)  # one URL serves both vendors
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from typing_extensions import Self

_GEMINI_PATH = re.compile(r"^/v1(?:beta)?/models/(?P<model>[^/:]+):generateContent$")
_GROQ_PATH = "/openai/v1/chat/completions"
_OPENAI_PATH = "/v1/chat/completions"
#: Gemini's quota id for the free tier's requests per day (as real 429 bodies name it)
GEMINI_DAILY_QUOTA_ID = "GenerateRequestsPerDayPerProjectPerModel-FreeTier"


@dataclass
class StubRequest:
    """One request as the stub understood it."""

    vendor: str  # "gemini", "groq" or "openai"
    model: str
    system: str
    user: str
    schema: dict[str, Any] | None
    temperature: float | None
    #: the client asked for a JSON answer (Gemini responseMimeType, Groq response_format)
    json_mode: bool
    has_api_key: bool
    body: dict[str, Any]
    #: what the stub did with it: "ok", "rate_limited", "server_error", "malformed", ...
    outcome: str = ""
    #: ``time.monotonic()`` when the request arrived
    received_at: float = 0.0

    def items(self) -> list[dict[str, Any]]:
        """The first JSON array of objects embedded in the user message (how our
        tasks pass their work items), or ``[]``."""
        decoder = json.JSONDecoder()
        for match in re.finditer(r"\[", self.user):
            try:
                value, _end = decoder.raw_decode(self.user, match.start())
            except json.JSONDecodeError:
                continue
            if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                return value
        return []


Responder = Callable[[StubRequest], str]


@dataclass
class Fault:
    """One injected misbehaviour. Build with the class methods."""

    kind: str
    retry_after_s: float | None = None
    status: int = 500
    delay_s: float = 0.0
    transform: Callable[[str], str] | None = None
    header: bool = True

    @classmethod
    def rate_limit(cls, retry_after_s: float | None = 1.0, *, header: bool = True) -> Fault:
        """429. The delay goes in a ``retry-after`` header (unless ``header=False``)
        and, for Gemini, also in the body's ``google.rpc.RetryInfo``."""
        return cls("rate_limited", retry_after_s=retry_after_s, status=429, header=header)

    @classmethod
    def daily_quota(cls, retry_after_s: float = 5184.0) -> Fault:
        """429 for a spent daily quota: Gemini's QuotaFailure naming
        ``GEMINI_DAILY_QUOTA_ID`` (with a short RetryInfo, as real ones carry), Groq's and
        OpenAI's "requests per day (RPD)" message with ``retry-after`` in seconds."""
        return cls("daily_quota", retry_after_s=retry_after_s, status=429)

    @classmethod
    def server_error(cls, status: int = 500) -> Fault:
        return cls("server_error", status=status)

    @classmethod
    def slow(cls, delay_s: float) -> Fault:
        return cls("slow", delay_s=delay_s)

    @classmethod
    def malformed_json(cls) -> Fault:
        """The answer cut off mid-way, as a truncated generation looks."""
        return cls("malformed", transform=lambda text: text[: max(1, len(text) // 2)])

    @classmethod
    def wrong_ids(cls) -> Fault:
        """Every ``"id"`` in the answer replaced by one that was never asked."""
        return cls(
            "wrong_ids", transform=lambda text: _rewrite_field(text, "id", lambda v: f"{v}-x")
        )

    @classmethod
    def set_field(cls, name: str, value: Any) -> Fault:
        """Every object's ``name`` field set to ``value`` (e.g. a label outside the set)."""
        return cls(
            f"set_{name}", transform=lambda text: _rewrite_field(text, name, lambda _v: value)
        )

    @classmethod
    def rewrite(cls, transform: Callable[[str], str], kind: str = "rewritten") -> Fault:
        return cls(kind, transform=transform)


@dataclass
class _Rule:
    fault: Fault
    remaining: int
    when: Callable[[StubRequest], bool] | None


@dataclass
class StubServer:
    """A threaded HTTP server on 127.0.0.1 (a free port) in a background thread."""

    responder: Responder
    latency_s: float = 0.0
    requests: list[StubRequest] = field(default_factory=list)
    #: answer 400 to OpenAI-format requests carrying ``response_format``
    reject_response_format: bool = False
    #: answered requests allowed per day (all vendors together); then daily-quota 429s
    requests_per_day: int | None = None
    #: answered requests counted against ``requests_per_day`` (set to 0 for a "new day")
    answered_today: int = 0

    def __post_init__(self) -> None:
        self._rules: list[_Rule] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- fault plan ---------------------------------------------------------------
    def inject(
        self, fault: Fault, times: int = 1, when: Callable[[StubRequest], bool] | None = None
    ) -> None:
        """Apply ``fault`` to the next ``times`` requests (that match ``when``)."""
        with self._lock:
            self._rules.append(_Rule(fault, times, when))

    def _take_fault(self, request: StubRequest) -> Fault | None:
        with self._lock:
            for rule in self._rules:
                if rule.remaining > 0 and (rule.when is None or rule.when(request)):
                    rule.remaining -= 1
                    return rule.fault
        return None

    # -- lifecycle ----------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None, "start the stub first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> StubServer:
        self._server = _QuietServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        # A short poll interval makes ``stop`` quick (the default waits up to 0.5 s).
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="llm-stub",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- one request ----------------------------------------------------------------
    def handle(
        self, vendor: str, model: str, body: dict[str, Any], has_api_key: bool
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        request = _parse(vendor, model, body, has_api_key)
        request.received_at = time.monotonic()
        with self._lock:
            self.requests.append(request)
        if self.reject_response_format and vendor == "openai" and body.get("response_format"):
            request.outcome = "bad_request"
            return (
                400,
                {},
                {
                    "error": {
                        "message": "response_format is not supported by this server",
                        "type": "invalid_request_error",
                        "param": "response_format",
                        "code": None,
                    }
                },
            )
        with self._lock:
            over_quota = (
                self.requests_per_day is not None and self.answered_today >= self.requests_per_day
            )
        fault = Fault.daily_quota() if over_quota else self._take_fault(request)
        time.sleep(self.latency_s + (fault.delay_s if fault else 0.0))
        if fault is not None and fault.kind == "daily_quota":
            request.outcome = "daily_quota"
            return (
                429,
                {"retry-after": f"{fault.retry_after_s:g}"},
                _daily_quota_body(
                    vendor, request.model, self.requests_per_day or 1000, fault.retry_after_s or 0.0
                ),
            )
        if fault is not None and fault.kind == "rate_limited":
            request.outcome = "rate_limited"
            headers = (
                {"retry-after": f"{fault.retry_after_s:g}"}
                if fault.header and fault.retry_after_s is not None
                else {}
            )
            return (
                429,
                headers,
                _error_body(vendor, 429, "rate limit exceeded", fault.retry_after_s),
            )
        if fault is not None and fault.kind == "server_error":
            request.outcome = "server_error"
            return fault.status, {}, _error_body(vendor, fault.status, "internal error", None)
        answer = self.responder(request)
        if fault is not None and fault.transform is not None:
            answer = fault.transform(answer)
        request.outcome = fault.kind if fault is not None else "ok"
        with self._lock:
            self.answered_today += 1
            answered = self.answered_today
        headers: dict[str, str] = {}
        if vendor != "gemini" and self.requests_per_day is not None:
            headers = {
                "x-ratelimit-limit-requests": str(self.requests_per_day),
                "x-ratelimit-remaining-requests": str(max(0, self.requests_per_day - answered)),
                "x-ratelimit-reset-requests": "1h26m24s",
            }
        return 200, headers, _answer_body(vendor, request, answer)


class _QuietServer(ThreadingHTTPServer):
    """A client that gave up (its timeout passed during a ``slow`` fault) closes the
    socket under the answer: that is the test's point, not an error to print."""

    def handle_error(self, request: object, client_address: object) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _handler_for(stub: StubServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the SDKs' connection pools expect

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except json.JSONDecodeError:
                return self._send(400, {}, {"error": {"message": "request body is not JSON"}})
            path = self.path.split("?", 1)[0]
            gemini = _GEMINI_PATH.match(path)
            if gemini:
                has_key = bool(self.headers.get("x-goog-api-key"))
                return self._send(*stub.handle("gemini", gemini.group("model"), body, has_key))
            if path in (_GROQ_PATH, _OPENAI_PATH):
                vendor = "groq" if path == _GROQ_PATH else "openai"
                has_key = (self.headers.get("authorization") or "").startswith("Bearer ")
                return self._send(*stub.handle(vendor, body.get("model", ""), body, has_key))
            self._send(404, {}, {"error": {"message": f"no route {path}"}})

        def _send(self, status: int, headers: dict[str, str], payload: dict[str, Any]) -> None:
            data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:  # keep test output quiet
            pass

    return Handler


def _parse(vendor: str, model: str, body: dict[str, Any], has_api_key: bool) -> StubRequest:
    if vendor == "gemini":
        config = body.get("generationConfig", {})
        system_parts = (body.get("systemInstruction") or {}).get("parts", [])
        user_parts = [p for c in body.get("contents", []) for p in c.get("parts", [])]
        return StubRequest(
            vendor=vendor,
            model=model,
            system="".join(p.get("text", "") for p in system_parts),
            user="".join(p.get("text", "") for p in user_parts),
            schema=config.get("responseJsonSchema") or config.get("responseSchema"),
            temperature=config.get("temperature"),
            json_mode=config.get("responseMimeType") == "application/json",
            has_api_key=has_api_key,
            body=body,
        )
    messages = body.get("messages", [])
    fmt = body.get("response_format") or {}
    return StubRequest(
        vendor=vendor,
        model=model,
        system="".join(m.get("content", "") for m in messages if m.get("role") == "system"),
        user="".join(m.get("content", "") for m in messages if m.get("role") == "user"),
        schema=fmt.get("json_schema", {}).get("schema")
        if fmt.get("type") == "json_schema"
        else None,
        temperature=body.get("temperature"),
        json_mode=fmt.get("type") in ("json_object", "json_schema"),
        has_api_key=has_api_key,
        body=body,
    )


def lexicon_label_teacher(request: StubRequest) -> str:
    """A scripted teacher for labels requests: answers every sentence of the
    request with the offline lexicon's label, in the labels task's JSON shape.
    Deterministic and independent of the runner, so tests and benchmarks know
    the right answer for every sentence."""
    from darija_assets.llm import lexicon

    labels = [{"id": item["id"], "label": lexicon.label(item["text"])} for item in request.items()]
    return json.dumps({"labels": labels}, ensure_ascii=False)


def _count_tokens(text: str) -> int:
    """A deterministic stand-in for a tokenizer: ~4 characters per token."""
    return len(text) // 4 + 1


def _answer_body(vendor: str, request: StubRequest, answer: str) -> dict[str, Any]:
    prompt_tokens = _count_tokens(request.system + request.user)
    answer_tokens = _count_tokens(answer)
    if vendor == "gemini":
        return {
            "candidates": [
                {
                    "content": {"role": "model", "parts": [{"text": answer}]},
                    "finishReason": "STOP",
                    "index": 0,
                }
            ],
            "usageMetadata": {
                "promptTokenCount": prompt_tokens,
                "candidatesTokenCount": answer_tokens,
                "totalTokenCount": prompt_tokens + answer_tokens,
            },
            "modelVersion": request.model,
            "responseId": uuid.uuid4().hex,
        }
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": answer_tokens,
            "total_tokens": prompt_tokens + answer_tokens,
        },
    }


def _error_body(
    vendor: str, status: int, message: str, retry_after_s: float | None
) -> dict[str, Any]:
    if vendor == "gemini":
        error: dict[str, Any] = {
            "code": status,
            "message": message,
            "status": "RESOURCE_EXHAUSTED" if status == 429 else "INTERNAL",
        }
        if retry_after_s is not None:
            error["details"] = [
                {
                    "@type": "type.googleapis.com/google.rpc.RetryInfo",
                    "retryDelay": f"{retry_after_s:g}s",
                }
            ]
        return {"error": error}
    kind = "requests" if status == 429 else "internal_server_error"
    return {
        "error": {
            "message": message,
            "type": kind,
            "code": "rate_limit_exceeded" if status == 429 else None,
        }
    }


def _daily_quota_body(vendor: str, model: str, limit: int, retry_after_s: float) -> dict[str, Any]:
    if vendor == "gemini":
        return {
            "error": {
                "code": 429,
                "status": "RESOURCE_EXHAUSTED",
                "message": "You exceeded your current quota, please check your plan and billing details.",
                "details": [
                    {
                        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                        "violations": [
                            {
                                "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                                "quotaId": GEMINI_DAILY_QUOTA_ID,
                                "quotaDimensions": {"location": "global", "model": model},
                                "quotaValue": str(limit),
                            }
                        ],
                    },
                    # real daily-quota bodies carry a short RetryInfo too: it must not be trusted
                    {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "43s"},
                ],
            }
        }
    hours, rest = divmod(int(retry_after_s), 3600)
    minutes, seconds = divmod(rest, 60)
    return {
        "error": {
            "message": (
                f"Rate limit reached for model `{model}` in organization `org_stub` service tier "
                f"`on_demand` on requests per day (RPD): Limit {limit}, Used {limit}, Requested 1. "
                f"Please try again in {hours}h{minutes}m{seconds}s."
            ),
            "type": "requests",
            "code": "rate_limit_exceeded",
        }
    }


def _rewrite_field(text: str, name: str, change: Callable[[Any], Any]) -> str:
    """Rewrite ``name`` in every JSON object of ``text``; non-JSON text is left alone."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return text

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: (change(v) if k == name else walk(v)) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return json.dumps(walk(value), ensure_ascii=False)
