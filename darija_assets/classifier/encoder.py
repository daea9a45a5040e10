"""The ``encoder`` student: a transformer encoder fine-tuned with LoRA.

The recipe is the original emotion classifier's (seed 001: DistilBERT, LoRA r=8,
alpha=16, dropout 0.1 on the attention query and value projections ``q_lin`` /
``v_lin``, learning rate 1e-4, 3 epochs, batch 16, 100 warmup steps, 128 tokens;
78.5% accuracy on its balanced English data). Here the base is a Darija or
Arabic BERT: DarijaBERT (SI2M-Lab) or MARBERT (UBC-NLP), whose query/value
projections are named ``query`` / ``value``. For offline runs and the tests,
``tiny`` is a BERT of a few hundred kilobytes built from a config, with a
WordPiece tokenizer trained on the training texts themselves; it stands in for
the architecture and learns little.

peft's sequence-classification task type trains the new classification head in
full beside the LoRA matrices (``modules_to_save``) and saves both in the adapter.
Training checkpoints every ``save_steps`` into a work directory and resumes from
the newest complete one when the same data and settings come back (the
``lora_adapter`` trainer's rules, reused).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from darija_assets import storage
from darija_assets.classifier.student import Student

if TYPE_CHECKING:
    import numpy as np

#: base presets: a name, or any local directory / Hub id of a BERT-style encoder
ENCODER_BASES: dict[str, str] = {
    "tiny": "",  # built locally, see ensure_tiny_encoder
    "darijabert": "SI2M-Lab/DarijaBERT",
    "marbert": "UBC-NLP/MARBERT",
}
#: the original project's LoRA recipe; BERT names its q_lin / v_lin ``query`` / ``value``
LORA_R, LORA_ALPHA, LORA_DROPOUT = 8, 16, 0.1
TARGET_MODULES = ("query", "value")
ADAPTER_DIR = "adapter"

TINY_ENCODER_SEED = 1234
TINY_ENCODER_VOCAB = 2000
#: BERT at toy scale; the wide initializer follows training/tiny.py's reasoning (a model this
#: narrow with frozen 0.02-scale weights cannot move its logits far enough to learn)
TINY_ENCODER_SHAPE: dict[str, Any] = {
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 128,
    "max_position_embeddings": 256,
    "initializer_range": 0.2,
}
_BERT_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


class EncoderUnavailable(RuntimeError):
    """The base encoder cannot be loaded here (not cached and no network, or not a BERT)."""


@dataclass
class EncoderParams:
    """Training settings; defaults are the original recipe. ``max_steps`` > 0 overrides
    ``epochs``; ``max_length`` is in tokens."""

    base: str = "tiny"
    max_length: int = 128
    epochs: float = 3.0
    max_steps: int = -1
    learning_rate: float = 1e-4
    batch_size: int = 16
    warmup_steps: int = 100
    save_steps: int = 200
    seed: int = 42


def train_wordpiece(texts: Iterable[str], vocab_size: int = TINY_ENCODER_VOCAB) -> Any:
    """A BERT-style WordPiece tokenizer trained on ``texts`` ([CLS] text [SEP], no lowercasing
    and no accent stripping: Arabic script has no case, and stripping would drop hamza)."""
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    backend.normalizer = normalizers.BertNormalizer(lowercase=False, strip_accents=False)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, special_tokens=list(_BERT_SPECIALS), show_progress=False
    )
    backend.train_from_iterator([t for t in texts if t and t.strip()], trainer=trainer)
    cls_id, sep_id = backend.token_to_id("[CLS]"), backend.token_to_id("[SEP]")
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )


def ensure_tiny_encoder(directory: Path | str, texts: Iterable[str]) -> Path:
    """The tiny BERT base in ``directory``: built on first use (tokenizer trained on
    ``texts``), reused afterwards so saved students keep a stable base."""
    from darija_assets.training.tiny import is_built

    directory = Path(directory)
    if is_built(directory):
        return directory
    import torch
    from transformers import BertConfig, BertModel

    directory.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{directory.name}.building-", dir=directory.parent))
    try:
        tokenizer = train_wordpiece(texts)
        config = BertConfig(
            vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, **TINY_ENCODER_SHAPE
        )
        torch.manual_seed(TINY_ENCODER_SEED)
        BertModel(config).save_pretrained(building)
        tokenizer.save_pretrained(building)
        storage.replace_dir(building, directory)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return directory


def resolve_base(name: str, tiny_dir: Path | str, texts: Iterable[str]) -> str:
    """Where base ``name`` lives: the tiny build in ``tiny_dir`` (built from ``texts`` if
    missing), a preset's Hub id, or ``name`` itself (a local directory or another id)."""
    if name == "tiny":
        return str(ensure_tiny_encoder(tiny_dir, texts))
    return ENCODER_BASES.get(name) or name


def _load_base(base: str, labels: Sequence[str]) -> tuple[Any, Any]:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(base)
        model = AutoModelForSequenceClassification.from_pretrained(
            base,
            num_labels=len(labels),
            id2label=dict(enumerate(labels)),
            label2id={label: i for i, label in enumerate(labels)},
        )
    except OSError as error:
        raise EncoderUnavailable(
            f"cannot load the base encoder {base!r}: not in the local Hugging Face cache and "
            f"no download possible here ({error}); choose base 'tiny', or a local directory"
        ) from error
    return model, tokenizer


def _fingerprint(
    params: EncoderParams, base: str, texts: Sequence[str], labels: Sequence[str]
) -> str:
    digest = hashlib.sha256(json.dumps([asdict(params), base], sort_keys=True).encode())
    for text, label in zip(texts, labels):
        digest.update(f"{label}\t{text}\n".encode())
    return digest.hexdigest()


class EncoderStudent(Student):
    kind: ClassVar[str] = "encoder"

    def __init__(
        self, model: Any, tokenizer: Any, labels: Sequence[str], base: str, params: EncoderParams
    ):
        self.model, self.tokenizer = model, tokenizer
        self.labels = tuple(labels)
        self.base, self.params = base, params

    @classmethod
    def train(
        cls,
        texts: Sequence[str],
        labels: Sequence[str],
        base: str,
        params: EncoderParams | None = None,
        *,
        work_dir: Path | str,
        log: Callable[[str], None] = print,
    ) -> EncoderStudent:
        """Fine-tune ``base`` (a directory or Hub id) with LoRA on ``texts`` / ``labels``.
        Checkpoints go to ``work_dir``; a rerun with the same inputs resumes there.
        Raises ``EncoderUnavailable`` when the base cannot be loaded."""
        import torch
        from datasets import Dataset
        from peft import LoraConfig, TaskType, get_peft_model
        from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

        from darija_assets.training.trainer import _claim_checkpoint_dir, latest_checkpoint

        params = params or EncoderParams()
        classes = sorted(set(labels))
        model, tokenizer = _load_base(base, classes)
        model = get_peft_model(
            model,
            LoraConfig(
                task_type=TaskType.SEQ_CLS,
                r=LORA_R,
                lora_alpha=LORA_ALPHA,
                lora_dropout=LORA_DROPOUT,
                target_modules=list(TARGET_MODULES),
            ),
        )
        index = {label: i for i, label in enumerate(classes)}
        dataset = Dataset.from_dict(
            {"text": list(texts), "label": [index[label] for label in labels]}
        ).map(
            lambda batch: tokenizer(batch["text"], truncation=True, max_length=params.max_length),
            batched=True,
            remove_columns=["text"],
        )
        work_dir = Path(work_dir)
        _claim_checkpoint_dir(work_dir, _fingerprint(params, base, texts, labels), log)
        resume = latest_checkpoint(work_dir)
        on_cpu = not torch.cuda.is_available()
        args = TrainingArguments(
            output_dir=str(work_dir),
            per_device_train_batch_size=params.batch_size,
            num_train_epochs=params.epochs,
            max_steps=params.max_steps,
            learning_rate=params.learning_rate,
            warmup_steps=params.warmup_steps,
            logging_steps=10,
            save_strategy="steps",
            save_steps=params.save_steps,
            save_total_limit=2,
            seed=params.seed,
            data_seed=params.seed,
            use_cpu=on_cpu,
            report_to="none",
            disable_tqdm=True,
        )
        trainer = Trainer(
            model=model,
            args=args,
            train_dataset=dataset,
            data_collator=DataCollatorWithPadding(tokenizer),
            processing_class=tokenizer,
        )
        log(
            f"LoRA on {base}: {len(dataset)} rows, {len(classes)} labels, "
            + (f"resuming from {resume[1].name}" if resume else "fresh start")
        )
        trainer.train(resume_from_checkpoint=str(resume[1]) if resume else None)
        model.eval()
        return cls(model, tokenizer, classes, base, params)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        encoded = self.tokenizer(
            list(texts),
            truncation=True,
            max_length=self.params.max_length,
            padding=True,
            return_tensors="pt",
        ).to(self.model.device)
        with torch.no_grad():
            logits = self.model(**encoded).logits
        return torch.softmax(logits.float(), dim=-1).cpu().numpy()

    def _save_files(self, directory: Path) -> dict[str, Any]:
        self.model.save_pretrained(directory / ADAPTER_DIR)
        self.tokenizer.save_pretrained(directory)
        return {
            "base": self.base,
            "params": asdict(self.params),
            "adapter": ADAPTER_DIR,
            "lora": {
                "r": LORA_R,
                "alpha": LORA_ALPHA,
                "dropout": LORA_DROPOUT,
                "target_modules": list(TARGET_MODULES),
            },
        }

    @classmethod
    def load(cls, directory: Path, meta: dict[str, Any]) -> EncoderStudent:
        """The base named in ``student.json`` with the saved adapter and head on top."""
        from peft import PeftModel
        from transformers import AutoTokenizer

        labels = meta["labels"]
        model, _ = _load_base(meta["base"], labels)
        model = PeftModel.from_pretrained(model, directory / meta.get("adapter", ADAPTER_DIR))
        model.eval()
        tokenizer = AutoTokenizer.from_pretrained(directory)
        return cls(model, tokenizer, labels, meta["base"], EncoderParams(**meta["params"]))
