"""The chat page: ``darija-assets serve --model tiny [--port 8765]``.

A small JSON API (Starlette) and one HTML page. Answers stream to the browser as
server-sent events over a POST (the page reads them with ``fetch``), generated with
transformers' ``TextIteratorStreamer``; conversations are kept in SQLite
(``store.ChatStore``). The crisis guard runs on every message before the model is
asked: a crisis message is answered with the fixed crisis answer and never reaches
the model.

API (JSON bodies and answers):

- ``POST /api/users`` -> ``{"user_id"}``
- ``GET /api/users/{user_id}/conversations`` -> ``[{"id", "title", "created_at"}]``
- ``POST /api/conversations`` ``{"user_id"}`` -> ``{"conversation_id"}``
- ``GET /api/conversations/{id}/messages`` -> ``[{"id", "role", "content", "crisis", ...}]``
- ``POST /api/conversations/{id}/messages`` ``{"content"}`` -> ``text/event-stream`` of
  ``{"token": "..."}`` events, then ``{"done": true, "message_id", "crisis"}``

Unknown ids answer 404, an empty or over-long message 400, both with ``{"error"}``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from darija_assets.serving.crisis import CRISIS_ANSWER, CrisisGuard
from darija_assets.serving.store import ChatStore, NotFound
from darija_assets.training.formatting import DEFAULT_INSTRUCTION, patient_turn

PAGE = Path(__file__).with_name("chat_page.html")
#: longest message accepted, in characters
MAX_MESSAGE_CHARS = 4000
DEFAULT_PORT = 8765

#: ``history`` (role/content dicts, oldest first, ending with the user's message) -> text pieces
Responder = Callable[[Sequence[dict[str, str]]], Iterator[str]]


def chat_messages(
    history: Sequence[dict[str, str]], instruction: str = DEFAULT_INSTRUCTION
) -> list[dict[str, str]]:
    """The turns as the adapter was trained on them: the first user turn carries the
    instruction and ``Patient says: "..."``, later turns are plain."""
    turns = [{"role": m["role"], "content": m["content"]} for m in history]
    for turn in turns:
        if turn["role"] == "user":
            turn["content"] = patient_turn(instruction, turn["content"])
            break
    return turns


class ModelResponder:
    """Streams a model's answer to a conversation; one generation at a time.

    The prompt keeps the newest exchanges that fit in ``max_prompt_tokens`` (older ones
    are dropped whole, never cut), so a long conversation never overflows the model.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        max_new_tokens: int = 200,
        max_prompt_tokens: int = 1024,
        instruction: str = DEFAULT_INSTRUCTION,
    ):
        from darija_assets.serving.export import stop_tokens

        self.model, self.tokenizer = model, tokenizer
        self.max_new_tokens, self.max_prompt_tokens = max_new_tokens, max_prompt_tokens
        self.instruction = instruction
        self.stop_ids = [tokenizer.convert_tokens_to_ids(t) for t in stop_tokens(tokenizer)]
        self._lock = threading.Lock()

    def prompt_ids(self, history: Sequence[dict[str, str]]) -> list[int]:
        start = 0
        while True:
            ids = self.tokenizer.apply_chat_template(
                chat_messages(history[start:], self.instruction),
                add_generation_prompt=True,
                tokenize=True,
                return_dict=True,
            )["input_ids"]
            # drop the oldest exchange (a user turn and its answer) while too long
            if len(ids) <= self.max_prompt_tokens or start + 2 >= len(history):
                return list(ids)
            start += 2

    def __call__(self, history: Sequence[dict[str, str]]) -> Iterator[str]:
        import torch
        from transformers import TextIteratorStreamer

        ids = torch.tensor([self.prompt_ids(history)], device=self.model.device)
        streamer = TextIteratorStreamer(
            self.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=300
        )
        with self._lock:
            worker = threading.Thread(
                target=self.model.generate,
                kwargs={
                    "input_ids": ids,
                    "attention_mask": torch.ones_like(ids),
                    "max_new_tokens": self.max_new_tokens,
                    "do_sample": False,
                    "eos_token_id": self.stop_ids,
                    "pad_token_id": self.tokenizer.pad_token_id,
                    "streamer": streamer,
                },
                daemon=True,
            )
            worker.start()
            yield from (piece for piece in streamer if piece)
            worker.join()


def _sse(payload: dict[str, Any]) -> str:
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"


def build_app(
    store: ChatStore, responder: Responder, guard: CrisisGuard, *, title: str = "Darija chat"
) -> Any:
    """The Starlette app of the chat page over ``store``, answering with ``responder``."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, JSONResponse, StreamingResponse
    from starlette.routing import Route

    page = PAGE.read_text(encoding="utf-8").replace("{{TITLE}}", title)

    def not_found(error: NotFound) -> JSONResponse:
        return JSONResponse({"error": str(error)}, status_code=404)

    async def body(request: Request) -> dict[str, Any]:
        try:
            data = await request.json()
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    async def index(request: Request) -> HTMLResponse:
        return HTMLResponse(page)

    async def new_user(request: Request) -> JSONResponse:
        name = str((await body(request)).get("name") or "anonymous")[:100]
        return JSONResponse({"user_id": store.add_user(name)})

    async def user_conversations(request: Request) -> JSONResponse:
        return JSONResponse(store.conversations(int(request.path_params["user_id"])))

    async def new_conversation(request: Request) -> JSONResponse:
        user_id = (await body(request)).get("user_id")
        if not isinstance(user_id, int):
            return JSONResponse({"error": "user_id (an integer) is required"}, status_code=400)
        try:
            return JSONResponse({"conversation_id": store.add_conversation(user_id)})
        except NotFound as error:
            return not_found(error)

    async def conversation_messages(request: Request) -> JSONResponse:
        try:
            return JSONResponse(store.messages(int(request.path_params["conversation_id"])))
        except NotFound as error:
            return not_found(error)

    async def send(request: Request) -> Any:
        conversation_id = int(request.path_params["conversation_id"])
        content = str((await body(request)).get("content") or "").strip()
        if not content or len(content) > MAX_MESSAGE_CHARS:
            return JSONResponse(
                {"error": f"a message needs 1 to {MAX_MESSAGE_CHARS} characters"}, status_code=400
            )
        verdict = guard.check(content)
        try:
            # a crisis message is flagged too, so it never enters a later prompt
            store.add_message(conversation_id, "user", content, verdict.crisis)
        except NotFound as error:
            return not_found(error)

        def events() -> Iterator[str]:
            # the guard answers before any model is asked
            if verdict.crisis:
                message_id = store.add_message(conversation_id, "assistant", CRISIS_ANSWER, True)
                yield _sse({"token": CRISIS_ANSWER})
                yield _sse({"done": True, "message_id": message_id, "crisis": True})
                return
            history = [
                {"role": m["role"], "content": m["content"]}
                for m in store.messages(conversation_id)
                if not m["crisis"]
            ]
            pieces = []
            for piece in responder(history):
                pieces.append(piece)
                yield _sse({"token": piece})
            answer = "".join(pieces).strip() or "(the model ended its turn without an answer)"
            message_id = store.add_message(conversation_id, "assistant", answer)
            yield _sse({"done": True, "message_id": message_id, "crisis": False})

        return StreamingResponse(
            events(), media_type="text/event-stream", headers={"Cache-Control": "no-store"}
        )

    return Starlette(
        routes=[
            Route("/", index),
            Route("/api/users", new_user, methods=["POST"]),
            Route("/api/users/{user_id:int}/conversations", user_conversations),
            Route("/api/conversations", new_conversation, methods=["POST"]),
            Route("/api/conversations/{conversation_id:int}/messages", conversation_messages),
            Route("/api/conversations/{conversation_id:int}/messages", send, methods=["POST"]),
        ]
    )


def model_responder(preset_name: str, layout: Any = None, max_new_tokens: int = 200) -> Any:
    """A ModelResponder over the adapter ``lora_adapter[preset_name]`` wrote; FileNotFoundError
    when there is none."""
    from darija_assets.storage import Layout
    from darija_assets.training.chat import load
    from darija_assets.training.presets import get_preset
    from darija_assets.training.tiny import base_model_location

    preset, layout = get_preset(preset_name), layout or Layout()
    adapter = layout.artifact("lora_adapter", preset.name)
    if not (adapter / "adapter_config.json").exists():
        raise FileNotFoundError(f"no adapter for {preset.name!r} at {adapter}")
    model, tokenizer = load(base_model_location(layout, preset), adapter)
    return ModelResponder(
        model,
        tokenizer,
        max_new_tokens=max_new_tokens,
        max_prompt_tokens=max(64, preset.max_length - max_new_tokens),
    )


def serve(
    preset_name: str, host: str = "127.0.0.1", port: int = DEFAULT_PORT, db: str | None = None
) -> None:
    """Run the chat page for ``preset_name``'s adapter until interrupted. The conversations
    go to ``db`` (default: ``chat/<preset>.sqlite`` under the data directory)."""
    import uvicorn

    from darija_assets.serving.crisis import default_guard
    from darija_assets.storage import Layout

    layout = Layout()
    store = ChatStore(db or layout.root / "chat" / f"{preset_name}.sqlite")
    app = build_app(
        store,
        model_responder(preset_name, layout),
        default_guard(layout),
        title=f"Darija chat ({preset_name})",
    )
    print(f"chat page on http://{host}:{port}/ (conversations in {store.path})", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")
