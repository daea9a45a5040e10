"""The WhatsApp project's special-token format: ``<USR_A> msg <USR_B> msg <SYS> reply``.

Seed 002 wrote each context message after a token naming its sender (``<USR_A>``,
``<USR_B>``, ... in order of appearance) and the learnt person's reply after ``<SYS>``,
added those tokens to the tokenizer, resized the model's embeddings, and masked the loss
before the reply (its ``train_asim_lora.py`` used the position of ``<SYS>``).

Here the same format is written for any example (the ``turns`` of ``examples``): a user turn
gets its speaker's ``<USR_X>`` token, an assistant turn ``<SYS>``. Labels cover each trained
reply's tokens and the token that closes it (the next turn's marker, or EOS after the last
turn), so the model learns where a reply ends; everything else is -100. The ids are built
piece by piece (marker id, then the text's own tokens), so the mask is exact by construction
rather than read back from character offsets.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from typing import Any

from darija_assets.training.formatting import IGNORE_INDEX, TokenizedChat

SYSTEM_TOKEN = "<SYS>"
#: one token per distinct user speaker of an example; an example with more users than
#: letters writes the extra ones with the last token (folded)
USER_TOKENS = tuple(f"<USR_{letter}>" for letter in string.ascii_uppercase[:8])
SPECIAL_TOKENS = (*USER_TOKENS, SYSTEM_TOKEN)


def add_special_tokens(tokenizer: Any, model: Any = None) -> int:
    """Add ``SPECIAL_TOKENS`` to ``tokenizer`` (never split, never merged with text) and,
    when a model is given, resize its input and output embeddings to the new vocabulary.
    Returns how many tokens were new."""
    added = tokenizer.add_special_tokens(
        {"additional_special_tokens": list(SPECIAL_TOKENS)},
        replace_extra_special_tokens=False,
    )
    if model is not None:
        fit_embeddings(model, tokenizer)
    return added


def fit_embeddings(model: Any, tokenizer: Any) -> bool:
    """Resize ``model``'s input and output embeddings to ``len(tokenizer)`` when it has
    fewer rows (a tokenizer with added tokens on its unchanged base); a model with as many
    rows or more (vocabularies padded to a multiple) is left alone. Returns whether it resized.

    The new rows start as transformers initialises them (the mean and covariance of the
    old rows); training or an adapter's saved rows set them.
    """
    if model.get_input_embeddings().num_embeddings >= len(tokenizer):
        return False
    model.resize_token_embeddings(len(tokenizer))
    return True


def tokenize_special(tokenizer: Any, turns: Sequence[dict]) -> TokenizedChat:
    """Token ids and labels of an example in the special-token format.

    Raises ValueError when the tokenizer lacks the tokens (call ``add_special_tokens``).
    """
    ids = tokenizer.convert_tokens_to_ids(list(SPECIAL_TOKENS))
    if tokenizer.unk_token_id is not None and tokenizer.unk_token_id in ids:
        raise ValueError("the tokenizer has no special-token format tokens: add_special_tokens")
    marker = dict(zip(SPECIAL_TOKENS, ids))
    letters: dict[Any, str] = {}
    input_ids: list[int] = [] if tokenizer.bos_token_id is None else [tokenizer.bos_token_id]
    labels: list[int] = [IGNORE_INDEX] * len(input_ids)
    pieces: list[str] = []
    close_previous = False  # the last reply was trained: its closing token is trained too
    for turn in turns:
        if turn["role"] == "assistant":
            token = SYSTEM_TOKEN
        else:
            key = turn.get("speaker") or turn["role"]
            position = letters.setdefault(key, len(letters))
            token = USER_TOKENS[min(position, len(USER_TOKENS) - 1)]
        text_ids = tokenizer(" " + turn["text"].strip(), add_special_tokens=False)["input_ids"]
        input_ids.append(marker[token])
        labels.append(marker[token] if close_previous else IGNORE_INDEX)
        trained = turn["role"] == "assistant" and bool(turn.get("trained"))
        input_ids += text_ids
        labels += text_ids if trained else [IGNORE_INDEX] * len(text_ids)
        close_previous = trained
        pieces.append(f"{token} {turn['text'].strip()}")
    if tokenizer.eos_token_id is not None:
        input_ids.append(tokenizer.eos_token_id)
        labels.append(tokenizer.eos_token_id if close_previous else IGNORE_INDEX)
    return TokenizedChat(input_ids=input_ids, labels=labels, text=" ".join(pieces))
