"""The ``tiny`` base model: built here from a config, never downloaded.

A byte-level BPE tokenizer is trained on our own corpus (so Darija in Arabic
script gets real merges), given the Gemma turn tokens and a Gemma-style chat
template, and paired with a randomly initialised Gemma 2 causal LM a few hundred
kilobytes in size. It exists so that the whole graph, and the tests, run
offline on a CPU; it is a stand-in for the architecture, not a useful model.

Heavy imports stay inside functions: this module is imported lazily anyway, but
``ensure_tiny_base`` on an existing directory should not pay for torch.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from darija_assets import storage
from darija_assets.training.formatting import (
    DEFAULT_INSTRUCTION,
    PATIENT_PREFIX,
    TRANSLATION_INSTRUCTION,
)
from darija_assets.training.templates import GEMMA_STYLE, TokenizerStyle

TINY_SEED = 1234
TINY_VOCAB_SIZE = 2048

#: the fixed shape of the tiny model: Gemma 2's architecture at toy scale
TINY_SHAPE: dict[str, Any] = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "head_dim": 32,
    "max_position_embeddings": 1024,
    "sliding_window": 256,
    "query_pre_attn_scalar": 32,
    # Wider than the 0.02 default: LoRA leaves the tied embeddings frozen, and at 0.02 a model
    # this narrow cannot make any logit large enough to learn an answer.
    "initializer_range": 0.2,
}

# Texts every tokenizer learns from, whatever the corpus: the turn format's own words and
# the Arabic alphabet, so a tiny or empty corpus still yields merges for what we format.
_FALLBACK_TEXTS = (
    DEFAULT_INSTRUCTION,
    f'{PATIENT_PREFIX}""',
    TRANSLATION_INSTRUCTION,
    "user model assistant system",
    "ا ب ت ث ج ح خ د ذ ر ز س ش ص ض ط ظ ع غ ف ق ك ل م ن ه و ي ء آ أ إ ؤ ئ ى ة",
    "0 1 2 3 4 5 6 7 8 9 . , ! ? ، ؟ : ; \" ' ( ) -",
)


def train_tokenizer(
    texts: Iterable[str], style: TokenizerStyle = GEMMA_STYLE, vocab_size: int = TINY_VOCAB_SIZE
) -> Any:
    """A fast byte-level BPE tokenizer trained on ``texts``, with ``style``'s tokens and template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=style.special_tokens,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    corpus = [t for t in texts if t and t.strip()] + list(_FALLBACK_TEXTS)
    backend.train_from_iterator(corpus, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=style.bos_token,
        eos_token=style.eos_token,
        pad_token=style.pad_token,
        extra_special_tokens=[t for t in style.turn_tokens if t != style.eos_token],
    )
    tokenizer.chat_template = style.chat_template
    return tokenizer


def build_tiny_model(tokenizer: Any, seed: int = TINY_SEED) -> Any:
    """A randomly initialised tiny Gemma 2 causal LM whose vocabulary matches ``tokenizer``."""
    import torch
    from transformers import Gemma2Config, Gemma2ForCausalLM

    end_of_turn = tokenizer.convert_tokens_to_ids("<end_of_turn>")
    config = Gemma2Config(
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=[tokenizer.eos_token_id, end_of_turn],
        # Gemma 2's soft-capping needs the eager attention path during training
        attn_implementation="eager",
        **TINY_SHAPE,
    )
    torch.manual_seed(seed)
    model = Gemma2ForCausalLM(config)
    model.generation_config.eos_token_id = [tokenizer.eos_token_id, end_of_turn]
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model


def build_tiny_base(target: Path, texts: Iterable[str], seed: int = TINY_SEED) -> Path:
    """Build tokenizer and model into ``target`` (replacing it atomically)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{target.name}.building-", dir=target.parent))
    try:
        tokenizer = train_tokenizer(texts)
        model = build_tiny_model(tokenizer, seed=seed)
        model.save_pretrained(building)
        tokenizer.save_pretrained(building)
        storage.replace_dir(building, target)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return target


def is_built(directory: Path) -> bool:
    # Only a finished build is ever renamed into place, so these files mean a complete base.
    return all((Path(directory) / name).exists() for name in ("config.json", "tokenizer.json"))


def base_model_location(layout: storage.Layout, preset: Any) -> str:
    """Where ``preset``'s base model lives: the local tiny build under the data
    directory, or the preset's Hub id."""
    if preset.is_local_tiny:
        return str(layout.artifact("base_model", preset.name))
    return preset.model_id


def ensure_tiny_base(directory: Path | str, texts: Iterable[str], seed: int = TINY_SEED) -> Path:
    """The tiny base model in ``directory``: built on first use, reused afterwards.

    Reused even when the corpus has grown since: adapters trained on it must keep
    a stable base, and a rebuild is one ``rm -r`` away.
    """
    directory = Path(directory)
    if not is_built(directory):
        build_tiny_base(directory, texts, seed=seed)
    return directory
