"""A local causal LM through ``transformers``: no network, optionally a GPU.

Loads a model directory (or a model id already in the local HF cache) with
``local_files_only=True`` (nothing is ever downloaded at run time), generates
greedily for several prompts at once with left padding, and loads in 4-bit
(bitsandbytes nf4) only when CUDA is available, since bitsandbytes on CPU is slow
and not something to rely on. torch and transformers are imported when the
backend is built, never when the package is imported.

Chat templates without a system role (Gemma 1/2/3 and models built on them, such as
Atlas-Chat-9B) raise ``TemplateError: System role not supported``. With
``system_role="auto"`` the backend renders a probe conversation once at load time and
folds the system text into the first user turn when the template refuses it (or the
model id names a Gemma-family model); ``native``/``fold`` force either way.
"""

from __future__ import annotations

import time
from pathlib import Path

from darija_assets.llm.backends._chat import (
    chat_messages,
    check_system_role,
    folds_system_role,
    system_with_schema,
)
from darija_assets.llm.base import Backend, BackendUnavailable, Completion, Prompt


class TransformersBackend(Backend):
    name = "transformers"

    def __init__(
        self,
        model_path: str,
        *,
        prompts_per_call: int = 4,
        max_new_tokens: int | None = None,
        load_in_4bit: bool | None = None,
        device: str | None = None,
        system_role: str = "auto",
    ):
        check_system_role(system_role)
        if not model_path:
            raise BackendUnavailable("transformers needs a local model (DARIJA_LOCAL_MODEL)")
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.model = Path(model_path).name if Path(model_path).exists() else model_path
        self.endpoint = f"local:{model_path}"
        self.prompts_per_call = prompts_per_call
        self._max_new_tokens = max_new_tokens
        cuda = torch.cuda.is_available()
        self._device = device or ("cuda" if cuda else "cpu")
        try:
            self._tokenizer = AutoTokenizer.from_pretrained(model_path, local_files_only=True)
            kwargs: dict = {"local_files_only": True}
            if cuda and load_in_4bit is not False:
                from transformers import BitsAndBytesConfig

                kwargs["quantization_config"] = BitsAndBytesConfig(
                    load_in_4bit=True,
                    bnb_4bit_quant_type="nf4",
                    bnb_4bit_use_double_quant=True,
                    bnb_4bit_compute_dtype=torch.bfloat16,
                )
                kwargs["device_map"] = {"": 0}
            self._lm = AutoModelForCausalLM.from_pretrained(model_path, **kwargs)
        except OSError as exc:
            raise BackendUnavailable(f"no local model at {model_path!r}: {exc}") from exc
        if "quantization_config" not in kwargs:
            self._lm.to(self._device)
        self._lm.eval()
        # Left padding keeps every prompt's last token next to its first generated one.
        self._tokenizer.padding_side = "left"
        if self._tokenizer.pad_token is None:
            self._tokenizer.pad_token = self._tokenizer.eos_token
        #: whether the system text goes into the first user turn (see the module docstring)
        self.folds_system = self._tokenizer.chat_template is not None and (
            folds_system_role(system_role, f"{model_path} {self._lm.config.model_type}")
            or (system_role == "auto" and not self._template_takes_system())
        )
        if (
            system_role == "native"
            and self._tokenizer.chat_template is not None
            and not self._template_takes_system()
        ):
            raise BackendUnavailable(
                f"the chat template of {model_path!r} has no system role (it raises "
                "'System role not supported'); use system_role auto or fold"
            )

    def _template_takes_system(self) -> bool:
        """Render a probe conversation with a system turn; a template that refuses it
        raises ``jinja2.TemplateError`` ("System role not supported")."""
        from jinja2 import TemplateError

        probe = chat_messages("probe system", "probe user", fold=False)
        try:
            self._tokenizer.apply_chat_template(probe, add_generation_prompt=True, tokenize=False)
        except TemplateError:
            return False
        return True

    def _render(self, prompt: Prompt) -> str:
        system = system_with_schema(prompt)
        if self._tokenizer.chat_template:
            messages = chat_messages(system, prompt.user, fold=self.folds_system)
            return self._tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, tokenize=False
            )
        # A bare base model has no chat template: a plain transcript is the honest fallback.
        return f"{system}\n\nUser: {prompt.user}\nAssistant:"

    def complete(self, prompt: Prompt) -> Completion:
        return self.complete_many([prompt])[0]

    def complete_many(self, prompts: list[Prompt]) -> list[Completion]:
        import torch

        started = time.monotonic()
        texts = [self._render(p) for p in prompts]
        batch = self._tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        batch = {k: v.to(self._lm.device) for k, v in batch.items()}
        max_new = self._max_new_tokens or max(p.max_output_tokens for p in prompts)
        with torch.inference_mode():
            generated = self._lm.generate(
                **batch,
                max_new_tokens=max_new,
                do_sample=False,
                pad_token_id=self._tokenizer.pad_token_id,
            )
        prompt_len = batch["input_ids"].shape[1]
        latency = time.monotonic() - started
        completions = []
        for row, mask in zip(generated, batch["attention_mask"]):
            new_tokens = row[prompt_len:]
            answer = self._tokenizer.decode(new_tokens, skip_special_tokens=True)
            output_tokens = int((new_tokens != self._tokenizer.pad_token_id).sum())
            completions.append(
                Completion(
                    text=answer,
                    model=self.model,
                    input_tokens=int(mask.sum()),
                    output_tokens=output_tokens,
                    latency_s=latency / len(prompts),
                )
            )
        return completions
