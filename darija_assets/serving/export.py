"""Export a trained adapter for the servers people run: merged weights, an Ollama
Modelfile, the vLLM command lines, and GGUF where llama.cpp's converter is present.

The export directory holds:

- ``merged/``: the base with the adapter folded in (peft ``merge_and_unload``), as
  safetensors in the preset's serving dtype, with the adapter's tokenizer; written
  only where the base is on this machine (the ``tiny`` build), skipped with the
  reason otherwise (a Hub base has to be downloaded first: see the README).
- ``Modelfile``: ``FROM ./merged`` when merged, else ``FROM <base dir>`` plus
  ``ADAPTER <adapter dir>``; the chat template translated into Ollama's Go template
  (``TEMPLATE``), the end-of-turn tokens as ``stop`` parameters, sampling
  ``PARAMETER``s and a Darija ``SYSTEM`` prompt with the crisis guidance and the
  "not a licensed therapist" statement. Modelfile syntax:
  https://github.com/ollama/ollama/blob/main/docs/modelfile.md (Safetensors
  adapters and models are imported for the Llama, Mistral and Gemma families).
- ``README.md``: how to serve it with Ollama and with vLLM
  (``vllm serve <base> --enable-lora --lora-modules darija=<adapter>``).
- ``export.json``: what was written and what was skipped, with reasons.

The template translation is mechanical: the preset's own chat template (the one
the adapter was trained with) is rendered around sentinel strings, and the text
between them becomes the literal parts of the Go template, so a Gemma and a ChatML
base both come out right without a table of formats.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from darija_assets import storage
from darija_assets.serving.crisis import REVIEW_STATUS, SYSTEM_GUIDANCE
from darija_assets.training.formatting import DEFAULT_INSTRUCTION, PATIENT_PREFIX
from darija_assets.training.presets import Preset

#: sampling defaults written into the Modelfile: mild sampling, a bounded answer
OLLAMA_PARAMETERS: dict[str, float | int] = {
    "temperature": 0.7,
    "top_p": 0.9,
    "repeat_penalty": 1.1,
    "num_ctx": 4096,
    "num_predict": 256,
}

#: where to look for llama.cpp's HF -> GGUF converter
LLAMA_CPP_ENV = "LLAMA_CPP_DIR"
GGUF_CONVERTER = "convert_hf_to_gguf.py"

_USER, _ASSISTANT, _SYSTEM = "\u2063U\u2063", "\u2063A\u2063", "\u2063S\u2063"


def serving_dtype(preset: Preset) -> str:
    """The dtype merged weights are saved in: bfloat16 for the CUDA presets (QLoRA
    computes in bf16, and Gemma 2 overflows in fp16), float32 for presets trained in
    fp32 on a CPU (``tiny``)."""
    return "bfloat16" if preset.requires_cuda else "float32"


@dataclass(frozen=True)
class TurnMarkers:
    """The literal text a chat template writes around each turn's content."""

    bos: str
    user_prefix: str
    user_suffix: str
    assistant_prefix: str
    assistant_suffix: str
    #: None when the template has no system role (Gemma): system text becomes a user turn
    system_prefix: str | None
    system_suffix: str | None


def _between(text: str, start: str, end: str | None) -> str:
    begin = text.index(start) + len(start)
    return text[begin:] if end is None else text[begin : text.index(end, begin)]


def turn_markers(tokenizer: Any) -> TurnMarkers:
    """Read the turn markers off ``tokenizer``'s chat template by rendering sentinels.

    Raises ValueError when the template renders a user turn differently with and
    without the generation prompt (the markers would not be a prefix of each other).
    """

    def render(messages: list[dict[str, str]], generation: bool = False) -> str:
        return tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=generation
        )

    user = [{"role": "user", "content": _USER}]
    bare = render(user)
    prompted = render(user, generation=True)
    full = render(user + [{"role": "assistant", "content": _ASSISTANT}])
    if not prompted.startswith(bare):
        raise ValueError("the chat template's generation prompt is not an addition to the turn")
    bos = tokenizer.bos_token or ""
    user_prefix = bare[: bare.index(_USER)]
    if bos and user_prefix.startswith(bos):
        user_prefix = user_prefix[len(bos) :]
    else:
        bos = ""
    user_suffix = _between(bare, _USER, None)
    assistant_prefix = prompted[len(bare) :]
    assistant_suffix = _between(full, _ASSISTANT, None)
    from jinja2 import TemplateError

    try:
        with_system = render([{"role": "system", "content": _SYSTEM}] + user)
    except TemplateError:  # Gemma-style templates raise on a system turn: fold it into a user turn
        system_prefix = system_suffix = None
    else:
        start = with_system[: with_system.index(_SYSTEM)]
        system_prefix = start[len(bos) :] if bos and start.startswith(bos) else start
        system_suffix = _between(with_system, _SYSTEM, user_prefix or None)
    return TurnMarkers(
        bos=bos,
        user_prefix=user_prefix,
        user_suffix=user_suffix,
        assistant_prefix=assistant_prefix,
        assistant_suffix=assistant_suffix,
        system_prefix=system_prefix,
        system_suffix=system_suffix,
    )


def _go(text: str) -> str:
    """A Go template action printing ``text`` literally (JSON escapes are Go escapes)."""
    return "{{ " + json.dumps(text, ensure_ascii=False) + " }}" if text else ""


def ollama_template(markers: TurnMarkers, instruction: str = DEFAULT_INSTRUCTION) -> str:
    """An Ollama ``TEMPLATE`` over ``.Messages`` that writes turns as the adapter was
    trained: the first user turn carries the instruction and ``Patient says: "..."``.

    Literal text goes through ``{{ "..." }}`` actions so the ``{{-`` whitespace trimming
    can never eat a newline the format needs.
    """
    system_prefix = markers.system_prefix
    system_suffix = markers.system_suffix
    if system_prefix is None:
        system_prefix, system_suffix = markers.user_prefix, markers.user_suffix
    patient_open = f"{instruction.strip()}\n{PATIENT_PREFIX}" + '"'
    return "".join(
        (
            "{{- range $i, $_ := .Messages }}",
            "{{- $last := eq (len (slice $.Messages $i)) 1 }}",
            '{{- if eq .Role "system" }}',
            _go(system_prefix),
            "{{ .Content }}",
            _go(system_suffix or ""),
            '{{- else if eq .Role "user" }}',
            _go(markers.user_prefix),
            # the first user turn is index 0, or 1 after a system turn
            "{{ if le $i 1 }}",
            _go(patient_open),
            "{{ .Content }}",
            _go('"'),
            "{{ else }}{{ .Content }}{{ end }}",
            _go(markers.user_suffix),
            "{{ if $last }}",
            _go(markers.assistant_prefix),
            "{{ end }}",
            '{{- else if eq .Role "assistant" }}',
            _go(markers.assistant_prefix),
            "{{ .Content }}",
            "{{ if not $last }}",
            _go(markers.assistant_suffix),
            "{{ end }}",
            "{{- end }}",
            "{{- end }}",
        )
    )


def stop_tokens(tokenizer: Any) -> list[str]:
    """The tokens generation stops on: the template's end-of-turn token, then EOS."""
    from darija_assets.training.formatting import end_of_turn_token

    stops = [end_of_turn_token(tokenizer)]
    if tokenizer.eos_token and tokenizer.eos_token not in stops:
        stops.append(tokenizer.eos_token)
    return stops


def modelfile(
    *,
    source: str,
    adapter: str | None,
    template: str,
    stops: list[str],
    system: str = SYSTEM_GUIDANCE,
    parameters: Mapping[str, float | int] = OLLAMA_PARAMETERS,
) -> str:
    """The text of an Ollama Modelfile (``FROM``, optional ``ADAPTER``, ``TEMPLATE``,
    ``PARAMETER``s and ``SYSTEM``)."""
    lines = [f"FROM {source}"]
    if adapter:
        lines.append(f"ADAPTER {adapter}")
    lines.append(f'TEMPLATE """{template}"""')
    lines += [f"PARAMETER {name} {value}" for name, value in parameters.items()]
    lines += [f"PARAMETER stop {json.dumps(stop)}" for stop in stops]
    lines.append(f'SYSTEM """{system}"""')
    return "\n".join(lines) + "\n"


@dataclass
class ExportResult:
    target: Path
    merged: bool
    dtype: str
    #: part -> why it was not produced ("merged", "gguf")
    skipped: dict[str, str] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["target"] = str(self.target)
        return out


def merge_adapter(base_model: str | Path, adapter_dir: str | Path, dtype: str = "float32") -> Any:
    """The base with the adapter merged in (``merge_and_unload``), in ``dtype``, eval mode."""
    import torch

    from darija_assets.training.chat import load_adapted

    adapted, _ = load_adapted(base_model, adapter_dir, torch.float32)
    return adapted.merge_and_unload().to(getattr(torch, dtype)).eval()


#: the safety statement every exported model card opens with
SAFETY_NOTICE = (
    "**This model is not a licensed therapist.** It must not be the only help offered to "
    "someone in distress. Put `darija_assets.serving.crisis.CrisisGuard` in front of it: "
    "messages about suicide, self-harm or abuse then get a fixed answer that urges contacting "
    "emergency services (15 / 19 in Morocco, 14 / 17 in Algeria) and a trusted person, "
    "before the model is asked."
)


def merged_model_card(preset: Preset, base: str, adapter_dir: Path) -> str:
    """The merged model's card: the safety notice, what was merged, then the adapter's card."""
    adapter_card = adapter_dir / "README.md"
    card = adapter_card.read_text(encoding="utf-8") if adapter_card.exists() else ""
    return (
        f"# darija-{preset.name} (merged)\n\n{SAFETY_NOTICE}\n\n"
        f"The LoRA adapter at `{adapter_dir}` merged into `{base}` with peft's "
        f"`merge_and_unload`, saved in {serving_dtype(preset)}. Crisis answer review: "
        f"{REVIEW_STATUS}\n\n## The adapter's card\n\n{card}"
    )


def gguf_converter() -> Path | None:
    """llama.cpp's converter script, from $LLAMA_CPP_DIR, or None."""
    directory = os.environ.get(LLAMA_CPP_ENV)
    if directory and (Path(directory) / GGUF_CONVERTER).is_file():
        return Path(directory) / GGUF_CONVERTER
    found = shutil.which(GGUF_CONVERTER)
    return Path(found) if found else None


def _readme(preset: Preset, base: str, adapter_dir: Path, result: ExportResult) -> str:
    served = "darija"
    merged_line = (
        f"ollama create darija-{preset.name} -f Modelfile   # FROM ./merged"
        if result.merged
        else f"ollama create darija-{preset.name} -f Modelfile   # FROM the base + ADAPTER"
    )
    download = (
        ""
        if Path(base).is_dir()
        else (
            "The base is a Hub model: download it beside the Modelfile first (HF_TOKEN if it is "
            "gated); the Modelfile's `FROM ./base` reads it there:\n\n"
            f"    huggingface-cli download {base} --local-dir {result.target}/base\n\n"
        )
    )
    skipped = "".join(f"- {part}: skipped, {why}\n" for part, why in result.skipped.items())
    skipped = skipped or "nothing\n"
    merged_serve = (
        f"Or the merged weights: `vllm serve {result.target / 'merged'}`." if result.merged else ""
    )
    return f"""# Serving the `{preset.name}` adapter

{SAFETY_NOTICE} `darija-assets chat` and `darija-assets serve` do this; the Modelfile's
SYSTEM prompt repeats the guidance for clients that talk to Ollama directly. Crisis answer
review: {REVIEW_STATUS}

{download}## Ollama

    cd {result.target}
    {merged_line}
    ollama run darija-{preset.name}

## vLLM (the adapter on top of the base, OpenAI-compatible API on port 8000)

    vllm serve {base} --enable-lora --lora-modules {served}={adapter_dir} \\
        --max-lora-rank {preset.lora_r} --dtype {serving_dtype(preset)}
    curl http://127.0.0.1:8000/v1/chat/completions -H 'Content-Type: application/json' \\
        -d '{{"model": "{served}", "messages": [{{"role": "user", "content": "{DEFAULT_INSTRUCTION}\\n{PATIENT_PREFIX}\\"...\\""}}]}}'

{merged_serve}

## What was skipped

{skipped}"""


def export_model(
    preset: Preset,
    base_model: str | Path,
    adapter_dir: str | Path,
    target: str | Path,
    *,
    dtype: str | None = None,
) -> ExportResult:
    """Write the export of ``adapter_dir`` (on ``base_model``) into ``target``, replacing it
    atomically. Raises FileNotFoundError when ``adapter_dir`` holds no adapter."""
    from transformers import AutoTokenizer

    adapter_dir, target = Path(adapter_dir), Path(target)
    if not (adapter_dir / "adapter_config.json").exists():
        raise FileNotFoundError(f"no LoRA adapter at {adapter_dir} (adapter_config.json missing)")
    base = str(base_model)
    dtype = dtype or serving_dtype(preset)
    tokenizer = AutoTokenizer.from_pretrained(str(adapter_dir))
    target.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{target.name}.building-", dir=target.parent))
    result = ExportResult(target=target, merged=False, dtype=dtype)
    try:
        if Path(base).is_dir():
            merged = merge_adapter(base, adapter_dir, dtype)
            merged.save_pretrained(building / "merged", safe_serialization=True)
            tokenizer.save_pretrained(building / "merged")
            (building / "merged" / "README.md").write_text(
                merged_model_card(preset, base, adapter_dir), encoding="utf-8"
            )
            result.merged = True
        else:
            result.skipped["merged"] = (
                f"the base {base} is a Hub id, not on this machine; merging needs its full "
                f"{dtype} weights: download it and run the export where it fits in memory"
            )
        converter = gguf_converter()
        if result.merged and converter is not None:
            import subprocess
            import sys

            subprocess.run(
                [sys.executable, str(converter), str(building / "merged"), "--outfile",
                 str(building / f"darija-{preset.name}.gguf")],
                check=True,
            )  # fmt: skip
        else:
            result.skipped["gguf"] = (
                f"llama.cpp's {GGUF_CONVERTER} is not installed here (set ${LLAMA_CPP_ENV} to a "
                "llama.cpp checkout)"
                if converter is None
                else "no merged weights to convert"
            )
        template = ollama_template(turn_markers(tokenizer))
        (building / "Modelfile").write_text(
            modelfile(
                # Ollama reads FROM as a path or an Ollama model name, never a Hub id:
                # a Hub base goes to ./base first (the README says how)
                source="./merged" if result.merged else (base if Path(base).is_dir() else "./base"),
                adapter=None if result.merged else str(adapter_dir),
                template=template,
                stops=stop_tokens(tokenizer),
            ),
            encoding="utf-8",
        )
        (building / "README.md").write_text(
            _readme(preset, base, adapter_dir, result), encoding="utf-8"
        )
        result.files = sorted(str(p.relative_to(building)) for p in building.rglob("*"))
        (building / "export.json").write_text(
            json.dumps(result.as_json(), ensure_ascii=False, indent=2), encoding="utf-8"
        )
        storage.replace_dir(building, target)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return result
