"""Talk to a trained adapter, as the original project's ask_psychologist did.

    python -m darija_assets.training.chat --base DIR_OR_ID --adapter DIR [--message TEXT]

Loads the base model, puts the LoRA adapter on top, writes the message into the
same user turn the adapter was trained on (instruction, then
``Patient says: "..."``), and generates until the template's end-of-turn token.
Without ``--message`` it reads one message per line until EOF or an empty line.
A message about suicide, self-harm or abuse gets the crisis guard's fixed answer
(``darija_assets.serving.crisis``) and never reaches the model.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from darija_assets.training.formatting import DEFAULT_INSTRUCTION, end_of_turn_token, patient_turn


def load_adapted(
    base_model: str | Path, adapter_dir: str | Path, dtype: Any, device_map: Any = None
) -> tuple[Any, Any]:
    """The base model (in ``dtype``, a torch dtype) with the LoRA adapter applied, and the
    adapter's tokenizer. A tokenizer with added tokens (the special-token format) has more
    ids than the base has embedding rows: the base is grown to it first, then the adapter
    sets those rows to the trained ones."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from darija_assets.conversations.special_tokens import fit_embeddings

    tokenizer = AutoTokenizer.from_pretrained(str(adapter_dir))
    base = AutoModelForCausalLM.from_pretrained(str(base_model), dtype=dtype, device_map=device_map)
    fit_embeddings(base, tokenizer)
    return PeftModel.from_pretrained(base, str(adapter_dir)), tokenizer


def load(base_model: str | Path, adapter_dir: str | Path) -> tuple[Any, Any]:
    """The base model with the adapter applied (in eval mode; bf16 on CUDA, fp32 on CPU),
    and the adapter's tokenizer."""
    import torch

    on_cuda = torch.cuda.is_available()
    model, tokenizer = load_adapted(
        base_model,
        adapter_dir,
        torch.bfloat16 if on_cuda else torch.float32,
        {"": 0} if on_cuda else None,
    )
    model.eval()
    return model, tokenizer


def ask(
    model: Any,
    tokenizer: Any,
    message: str,
    *,
    instruction: str = DEFAULT_INSTRUCTION,
    max_new_tokens: int = 200,
    temperature: float = 0.0,
) -> str:
    """The model's answer to ``message``; greedy unless ``temperature`` > 0."""
    import torch

    messages = [{"role": "user", "content": patient_turn(instruction, message)}]
    prompt = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
    ).to(model.device)
    stop_ids = [tokenizer.convert_tokens_to_ids(end_of_turn_token(tokenizer))]
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in stop_ids:
        stop_ids.append(tokenizer.eos_token_id)
    sampling = (
        {"do_sample": True, "temperature": temperature} if temperature > 0 else {"do_sample": False}
    )
    with torch.no_grad():
        output = model.generate(
            **prompt,
            max_new_tokens=max_new_tokens,
            eos_token_id=stop_ids,
            pad_token_id=tokenizer.pad_token_id,
            **sampling,
        )
    new_tokens = output[0, prompt["input_ids"].shape[1] :]
    return tokenizer.decode(new_tokens, skip_special_tokens=True).strip()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="base model directory or Hugging Face id")
    parser.add_argument(
        "--adapter", required=True, help="LoRA adapter directory (lora_adapter output)"
    )
    parser.add_argument("--message", help="ask once and exit; without it, read messages from stdin")
    parser.add_argument("--instruction", default=DEFAULT_INSTRUCTION)
    parser.add_argument("--max-new-tokens", type=int, default=200)
    parser.add_argument("--temperature", type=float, default=0.0)
    args = parser.parse_args(argv)

    from darija_assets.serving.crisis import default_guard

    model, tokenizer = load(args.base, args.adapter)
    guard = default_guard()

    def reply(message: str) -> None:
        verdict = guard.check(message)
        if verdict.crisis:  # the fixed, reviewed answer, before any model is asked
            print(verdict.answer, flush=True)
            return
        answer = ask(
            model,
            tokenizer,
            message,
            instruction=args.instruction,
            max_new_tokens=args.max_new_tokens,
            temperature=args.temperature,
        )
        if not answer:
            print("(empty answer: the model ended its turn at once)", file=sys.stderr, flush=True)
        print(answer, flush=True)

    if args.message is not None:
        reply(args.message)
        return 0
    interactive = sys.stdin.isatty()
    while True:
        if interactive:
            print("> ", end="", flush=True)
        line = sys.stdin.readline()
        if not line.strip():
            return 0
        reply(line.strip())


if __name__ == "__main__":
    raise SystemExit(main())
