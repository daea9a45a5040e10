"""Chat templates and special tokens for the tokenizers we build ourselves.

Real presets use the template their base model ships. The locally built
tokenizers (the ``tiny`` model, and the ChatML twin the tests use to prove the
formatting is not Gemma-specific) need one written here. Both wrap the
assistant's answer and its end-of-turn token in ``{% generation %}`` markers, so
``apply_chat_template(..., return_assistant_tokens_mask=True)`` and trl's
``assistant_only_loss`` work with them too.
"""

from __future__ import annotations

from dataclasses import dataclass

# Gemma's turn format: "<start_of_turn>user\n...<end_of_turn>\n<start_of_turn>model\n...".
# Gemma has no system role; the instruction travels inside the user turn.
GEMMA_CHAT_TEMPLATE = (
    "{{- bos_token -}}"
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'assistant' -%}"
    "{{- '<start_of_turn>model\\n' -}}"
    "{%- generation -%}{{- message['content'] | trim -}}{{- '<end_of_turn>' -}}{%- endgeneration -%}"
    "{{- '\\n' -}}"
    "{%- elif message['role'] == 'user' -%}"
    "{{- '<start_of_turn>user\\n' + (message['content'] | trim) + '<end_of_turn>\\n' -}}"
    "{%- else -%}"
    "{{- raise_exception('Gemma-style chats have only user and assistant turns, not ' + message['role']) -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<start_of_turn>model\\n' -}}{%- endif -%}"
)

# ChatML, the format of Qwen 2.x instruct models: "<|im_start|>role\n...<|im_end|>\n".
CHATML_CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' -}}"
    "{%- if message['role'] == 'assistant' -%}"
    "{%- generation -%}{{- message['content'] -}}{{- '<|im_end|>' -}}{%- endgeneration -%}"
    "{{- '\\n' -}}"
    "{%- else -%}"
    "{{- message['content'] + '<|im_end|>\\n' -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)


@dataclass(frozen=True)
class TokenizerStyle:
    """The special tokens and chat template of one family of chat tokenizers."""

    name: str
    bos_token: str | None
    eos_token: str
    pad_token: str
    #: turn markers, kept whole by the tokenizer
    turn_tokens: tuple[str, ...]
    chat_template: str

    @property
    def special_tokens(self) -> list[str]:
        """All special tokens, in the order they get the first ids."""
        first = [self.pad_token, self.eos_token] + ([self.bos_token] if self.bos_token else [])
        return first + [t for t in self.turn_tokens if t not in first]


GEMMA_STYLE = TokenizerStyle(
    name="gemma",
    bos_token="<bos>",
    eos_token="<eos>",
    pad_token="<pad>",
    turn_tokens=("<start_of_turn>", "<end_of_turn>"),
    chat_template=GEMMA_CHAT_TEMPLATE,
)

CHATML_STYLE = TokenizerStyle(
    name="chatml",
    bos_token=None,
    eos_token="<|im_end|>",
    pad_token="<|endoftext|>",
    turn_tokens=("<|im_start|>", "<|im_end|>"),
    chat_template=CHATML_CHAT_TEMPLATE,
)
