"""tokenized_dataset: therapy pairs (and their translations) as tokenized chat examples.

Three kinds of example:

- ``therapy``: a therapy pair in the original turn format (instruction and
  ``Patient says: "..."``, then the therapist's answer);
- ``translation``: Darija -> English, from the translations table, one example
  for the patient's text and one for the answer, when a translation exists, and one
  for each imported parallel row (its ``darija`` and ``input_en``);
- ``conversation``: a multi-turn conversation from a conversation source,
  chunked with overlap between exchanges (see ``formatting.chunk_exchanges``);
- ``chat`` and ``session``: the examples conversations[source] built (a chat reply with its
  context, a sliding window of a therapy session; see ``conversations.examples``), written
  with the chat template (only their trained assistant turns get labels) or in the
  WhatsApp project's special-token format (``conversations.special_tokens``).

Mixture: ``kind_caps`` limits the examples of a kind (a seeded draw of whole groups, so a
conversation is kept or left whole); the stats' ``mixture`` gives each kind's candidates,
capped and kept examples.

Each example keeps its ``input_ids`` and ``labels`` (-100 outside the answers),
so the completion-only mask is part of the stored dataset and can be checked.
Examples longer than the preset's ``max_length`` are filtered out and listed,
not truncated (truncation would cut answers).

Splits: ``train`` / ``validation`` / ``test``, 80/10/10 by default as the original
therapy pipeline split its pairs (configurable, seeded). They are drawn over groups
(a pair with its translations, a conversation with all its chunks), so overlapping
text never lands on two sides, and stratified by emotion: each emotion gives each
split its share of groups (``split_groups``). ``lora_adapter`` trains on ``train`` and
evaluates on ``validation``; ``test`` is kept for a final evaluation and never reaches
training.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import shutil
import tempfile
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from darija_assets import storage
from darija_assets.training import formatting
from darija_assets.training.preflight import check_model_access
from darija_assets.training.presets import Preset

TRAIN, VALIDATION, TEST = "train", "validation", "test"
SPLITS = (TRAIN, VALIDATION, TEST)
#: the original therapy pipeline's 80/10/10 split
VALIDATION_FRACTION = 0.1
TEST_FRACTION = 0.1
#: how many filtered examples the stats name individually (the counts are always complete)
LISTED_LIMIT = 50
STATS_FILE = "stats.json"
#: where ``save_dataset`` puts the tokenizer the examples were built with
TOKENIZER_DIR = "tokenizer"
#: how chat and session examples are written: the preset's chat template, or seed 002's
#: ``<USR_A> ... <SYS> reply`` tokens
CHAT_TEMPLATE, SPECIAL_TOKENS = "chat_template", "special_tokens"
EXAMPLE_KINDS = ("therapy", "translation", "conversation", "chat", "session")

_REQUIRED_PAIR_FIELDS = ("pair_id", "instruction", "input", "output")
_REQUIRED_TRANSLATION_FIELDS = ("pair_id", "input_en", "output_en")
#: imported parallel rows carry their own Darija; output_en stays null
_REQUIRED_PARALLEL_FIELDS = ("pair_id", "darija", "input_en")


def _rows(table: Any) -> list[dict[str, Any]]:
    """Rows of a polars DataFrame, or of any iterable of mappings."""
    if table is None:
        return []
    if hasattr(table, "to_dicts"):
        return table.to_dicts()
    return [dict(row) for row in table]


def _missing(row: Mapping[str, Any], fields: Sequence[str]) -> list[str]:
    return [f for f in fields if not isinstance(row.get(f), str) or not row[f].strip()]


class _Rejections:
    """Rows that become no example: each listed with its reason, and counted by kind."""

    def __init__(self) -> None:
        self.rows: list[dict[str, str]] = []
        self.counts: Counter = Counter()

    def add(self, row_id: str, reason: str, kind: str) -> None:
        self.rows.append({"id": row_id, "reason": reason})
        self.counts[kind] += 1


def _pair_examples(
    pairs: list[dict[str, Any]], rejected: _Rejections
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    examples, by_id = [], {}
    for row in pairs:
        pair_id = str(row.get("pair_id") or "")
        missing = _missing(row, _REQUIRED_PAIR_FIELDS)
        if missing:
            reason = f"therapy pair missing {', '.join(missing)}"
            rejected.add(pair_id or "(no pair_id)", reason, "invalid_pairs")
        elif pair_id in by_id:
            rejected.add(pair_id, "duplicate pair_id", "duplicate_pairs")
        else:
            by_id[pair_id] = row
            messages = formatting.therapy_messages(row["instruction"], row["input"], row["output"])
            examples.append(_example(f"{pair_id}:therapy", pair_id, "therapy", row, messages))
    return examples, by_id


def _translation_examples(
    translations: list[dict[str, Any]],
    pairs_by_id: dict[str, dict[str, Any]],
    rejected: _Rejections,
) -> list[dict[str, Any]]:
    examples, seen = [], set()
    for row in translations:
        pair_id = str(row.get("pair_id") or "")
        if row.get("darija") is not None:  # imported parallel text: it is its own group
            examples.extend(_parallel_example(row, pair_id, rejected))
            continue
        missing = _missing(row, _REQUIRED_TRANSLATION_FIELDS)
        pair = pairs_by_id.get(pair_id)
        if missing:
            reason = f"translation missing {', '.join(missing)}"
            rejected.add(pair_id or "(no pair_id)", reason, "invalid_translations")
        elif pair is None:
            reason = "translation of a pair that is not in therapy_pairs"
            rejected.add(pair_id, reason, "orphan_translations")
        elif pair_id in seen:
            rejected.add(pair_id, "duplicate translation of one pair", "duplicate_translations")
        else:
            seen.add(pair_id)
            # The pair's emotion/style/source describe the text being translated.
            meta = {**pair, "backend": row.get("backend")}
            for field, english in (("input", row["input_en"]), ("output", row["output_en"])):
                messages = formatting.translation_messages(pair[field], english)
                example_id = f"{pair_id}:translation-{field}"
                examples.append(_example(example_id, pair_id, "translation", meta, messages))
    return examples


def _parallel_example(
    row: dict[str, Any], pair_id: str, rejected: _Rejections
) -> list[dict[str, Any]]:
    """One Darija -> English example from an imported parallel row (text/records.py)."""
    missing = _missing(row, _REQUIRED_PARALLEL_FIELDS)
    if missing:
        reason = f"parallel text missing {', '.join(missing)}"
        rejected.add(pair_id or "(no pair_id)", reason, "invalid_translations")
        return []
    messages = formatting.translation_messages(row["darija"], row["input_en"])
    return [_example(f"{pair_id}:parallel", pair_id, "translation", row, messages)]


def _conversation_examples(
    conversations: list[dict[str, Any]],
    max_exchanges: int,
    overlap: float,
    rejected: _Rejections,
) -> list[dict[str, Any]]:
    examples = []
    for row in conversations:
        conversation_id = str(row.get("conversation_id") or "")
        try:
            if not conversation_id or not row.get("turns"):
                raise ValueError("conversation without id or turns")
            exchanges, dangling = formatting.exchanges_from_turns(row["turns"])
        except ValueError as error:
            rejected.add(
                conversation_id or "(no conversation_id)", str(error), "invalid_conversations"
            )
            continue
        rejected.counts["dangling_turns"] += dangling
        instruction = row.get("instruction") or formatting.DEFAULT_INSTRUCTION
        chunks = formatting.chunk_exchanges(len(exchanges), max_exchanges, overlap)
        for n, chunk in enumerate(chunks):
            messages, trainable = formatting.conversation_messages(exchanges, chunk, instruction)
            example_id = f"{conversation_id}:chunk-{n:04d}"
            example = _example(example_id, conversation_id, "conversation", row, messages)
            example["trainable"] = trainable
            examples.append(example)
    return examples


def _prepared_examples(rows: list[dict[str, Any]], rejected: _Rejections) -> list[dict[str, Any]]:
    """Candidates from conversations[source] examples (``conversations.examples``: turns
    with trained flags, ``users`` fold or mark); kind "chat" or "session" by their style."""
    from darija_assets.conversations.examples import to_messages

    examples = []
    for row in rows:
        example_id = str(row.get("example_id") or "")
        turns = row.get("turns") or []
        if not example_id or not any(t.get("trained") for t in turns):
            reason = "conversation example without id or trained turn"
            rejected.add(example_id or "(no example_id)", reason, "invalid_conversation_examples")
            continue
        messages, trainable = to_messages(turns, row.get("users") or "fold")
        kind = "chat" if row.get("style") == "chat" else "session"
        example = _example(example_id, str(row["group_id"]), kind, row, messages)
        example.update(trainable=trainable, turns=turns)
        examples.append(example)
    return examples


def _cap_kinds(
    candidates: list[dict[str, Any]], caps: Mapping[str, int], seed: int
) -> tuple[list[dict[str, Any]], dict[str, dict[str, int]]]:
    """At most ``caps[kind]`` examples of each capped kind: whole groups drawn in a seeded
    shuffle of their sorted ids until the next would pass the cap; and the mixture (each
    kind's candidates, capped and kept examples)."""
    unknown = sorted(set(caps) - set(EXAMPLE_KINDS))
    if unknown:
        raise ValueError(f"kind_caps names unknown kinds {unknown}; kinds: {list(EXAMPLE_KINDS)}")
    by_kind: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for example in candidates:
        by_kind.setdefault(example["kind"], {}).setdefault(example["group_id"], []).append(example)
    kept: list[dict[str, Any]] = []
    mixture = {}
    for kind, groups in sorted(by_kind.items()):
        total = sum(len(g) for g in groups.values())
        cap = caps.get(kind)
        if cap is None or cap < 0 or total <= cap:
            chosen = [e for g in groups.values() for e in g]
        else:
            order = sorted(groups)
            random.Random(f"{seed}:{kind}").shuffle(order)
            chosen = []
            for group in order:
                if len(chosen) + len(groups[group]) <= cap:
                    chosen += groups[group]
        kept += chosen
        mixture[kind] = {"candidates": total, "capped": total - len(chosen), "kept": len(chosen)}
    return kept, mixture


def _example(
    example_id: str,
    group_id: str,
    kind: str,
    meta: Mapping[str, Any],
    messages: list[dict[str, str]],
) -> dict[str, Any]:
    return {
        "example_id": example_id,
        "group_id": group_id,
        "kind": kind,
        "emotion": meta.get("emotion"),
        "style": meta.get("style"),
        "source": meta.get("source"),
        "backend": meta.get("backend"),
        "messages": messages,
    }


def held_out_sizes(
    n_groups: int, validation_fraction: float, test_fraction: float
) -> tuple[int, int]:
    """How many groups go to validation and to test: ``round(n * fraction)`` each, and at
    least one for a positive fraction as long as training keeps one group (validation is
    served first), so a small corpus still gets an eval loss.

    Raises ValueError unless both fractions are >= 0 and leave some share for training.
    """
    if validation_fraction < 0 or test_fraction < 0 or validation_fraction + test_fraction >= 1:
        raise ValueError(
            f"split fractions validation={validation_fraction}, test={test_fraction} must be "
            ">= 0 and add up to less than 1"
        )
    budget = max(0, n_groups - 1)
    sizes = []
    for fraction in (validation_fraction, test_fraction):
        size = min(budget, max(1, round(n_groups * fraction))) if fraction > 0 else 0
        sizes.append(size)
        budget -= size
    return sizes[0], sizes[1]


def _allocate(total: int, sizes: Mapping[str, int]) -> dict[str, int]:
    """``total`` shared among strata in proportion to ``sizes`` (largest remainder method;
    ties go to the stratum named first), never more than a stratum has."""
    whole = sum(sizes.values())
    if not whole:
        return {name: 0 for name in sizes}
    quotas = {name: total * size / whole for name, size in sizes.items()}
    shares = {name: math.floor(quota) for name, quota in quotas.items()}
    by_remainder = sorted(sizes, key=lambda name: (shares[name] - quotas[name], name))
    for name in by_remainder[: total - sum(shares.values())]:
        shares[name] += 1
    return shares


def split_groups(
    group_strata: Mapping[str, str | None],
    validation_fraction: float = VALIDATION_FRACTION,
    test_fraction: float = TEST_FRACTION,
    seed: int = 0,
) -> dict[str, str]:
    """The split (TRAIN, VALIDATION or TEST) of each group, stratified by its stratum
    (the emotion; None is a stratum of its own).

    The sizes come from ``held_out_sizes``; test, then validation, are shared among the
    strata in proportion to their sizes, and each stratum's groups are drawn in a seeded
    shuffle of their sorted ids, so the split depends on the seed and the groups, never
    on the input order.
    """
    strata: dict[str, list[str]] = {}
    for group, stratum in sorted(group_strata.items()):
        strata.setdefault("" if stratum is None else f"={stratum}", []).append(group)
    for name, groups in strata.items():
        random.Random(f"{seed}:{name}").shuffle(groups)
    n_validation, n_test = held_out_sizes(len(group_strata), validation_fraction, test_fraction)
    test = _allocate(n_test, {name: len(groups) for name, groups in strata.items()})
    validation = _allocate(
        n_validation, {name: len(groups) - test[name] for name, groups in strata.items()}
    )
    assignment = {}
    for name, groups in strata.items():
        for position, group in enumerate(groups):
            if position < test[name]:
                assignment[group] = TEST
            elif position < test[name] + validation[name]:
                assignment[group] = VALIDATION
            else:
                assignment[group] = TRAIN
    return assignment


def _percentile(sorted_values: Sequence[int], q: int) -> int:
    """Nearest-rank percentile of an ascending list."""
    rank = max(1, math.ceil(len(sorted_values) * q / 100))
    return int(sorted_values[rank - 1])


def length_summary(lengths: Sequence[int]) -> dict[str, float | int | None]:
    if not lengths:
        return {"min": None, "p50": None, "p95": None, "max": None, "mean": None}
    ordered = sorted(lengths)
    return {
        "min": ordered[0],
        "p50": _percentile(ordered, 50),
        "p95": _percentile(ordered, 95),
        "max": ordered[-1],
        "mean": round(sum(ordered) / len(ordered), 1),
    }


def _features() -> Any:
    from datasets import Features, Value
    from datasets import Sequence as HFSequence

    text = Value("string")
    return Features(
        {
            "example_id": text,
            "group_id": text,
            "kind": text,
            "emotion": text,
            "style": text,
            "source": text,
            "backend": text,
            "input_ids": HFSequence(Value("int32")),
            "labels": HFSequence(Value("int32")),
            "n_tokens": Value("int32"),
            "n_answer_tokens": Value("int32"),
        }
    )


def build_examples(
    pairs_rows: Any,
    translation_rows: Any,
    tokenizer: Any,
    preset: Preset,
    seed: int = 0,
    *,
    conversations: Any = None,
    conversation_examples: Any = None,
    kind_caps: Mapping[str, int] | None = None,
    conversation_format: str = CHAT_TEMPLATE,
    validation_fraction: float = VALIDATION_FRACTION,
    test_fraction: float = TEST_FRACTION,
    max_exchanges_per_chunk: int = 300,
    chunk_overlap: float = 0.2,
) -> tuple[Any, dict[str, Any]]:
    """Tokenized train/validation/test examples and their stats.

    ``pairs_rows``: therapy_pairs rows (polars DataFrame or mappings) of all emotions.
    ``translation_rows``: translations rows, or None/empty when translation was skipped.
    ``conversations``: optional mappings ``{conversation_id, turns: [{role, content}],
    source?, emotion?, instruction?}`` from a conversation source.
    ``conversation_examples``: conversations[source] examples (``conversations.examples``).
    ``kind_caps``: the most examples of a kind (therapy, translation, conversation, chat,
    session); ValueError for an unknown kind. ``conversation_format``: CHAT_TEMPLATE, or
    SPECIAL_TOKENS to write chat and session examples as ``<USR_A> ... <SYS> reply`` (the
    tokenizer must have the tokens: ``conversations.special_tokens.add_special_tokens``).

    ``validation_fraction``, ``test_fraction``: shares of groups held out (see
    ``split_groups``; ValueError when they leave nothing for training); ``seed`` draws them.

    Returns ``(DatasetDict, stats)``: the DatasetDict has "train", "validation" and
    "test" splits, each only when it has examples; ``_stats`` lists the stats keys.
    """
    from datasets import Dataset, DatasetDict

    held_out_sizes(0, validation_fraction, test_fraction)  # bad fractions fail before tokenizing
    if conversation_format not in (CHAT_TEMPLATE, SPECIAL_TOKENS):
        raise ValueError(f"conversation_format must be {CHAT_TEMPLATE!r} or {SPECIAL_TOKENS!r}")
    rejected = _Rejections()
    pair_examples, pairs_by_id = _pair_examples(_rows(pairs_rows), rejected)
    candidates = (
        pair_examples
        + _translation_examples(_rows(translation_rows), pairs_by_id, rejected)
        + _conversation_examples(
            _rows(conversations), max_exchanges_per_chunk, chunk_overlap, rejected
        )
        + _prepared_examples(_rows(conversation_examples), rejected)
    )
    candidates, mixture = _cap_kinds(candidates, kind_caps or {}, seed)

    kept: list[dict[str, Any]] = []
    too_long: list[dict[str, Any]] = []
    no_answer: list[str] = []
    for example in candidates:
        turns = example.pop("turns", None)
        if turns is not None and conversation_format == SPECIAL_TOKENS:
            from darija_assets.conversations.special_tokens import tokenize_special

            example.pop("messages"), example.pop("trainable")
            chat = tokenize_special(tokenizer, turns)
        else:
            chat = formatting.tokenize_chat(
                tokenizer, example.pop("messages"), example.pop("trainable", None)
            )
        n_tokens = len(chat.input_ids)
        if n_tokens > preset.max_length:
            too_long.append({"id": example["example_id"], "tokens": n_tokens})
            continue
        if chat.answer_token_count == 0:  # e.g. a conversation chunk that is all overlap
            no_answer.append(example["example_id"])
            continue
        kept.append(
            {
                **example,
                "input_ids": chat.input_ids,
                "labels": chat.labels,
                "n_tokens": n_tokens,
                "n_answer_tokens": chat.answer_token_count,
            }
        )

    # a group's examples share its emotion (a pair's translations carry the pair's)
    strata = {e["group_id"]: e["emotion"] for e in kept}
    assignment = split_groups(strata, validation_fraction, test_fraction, seed)
    splits: dict[str, list[dict[str, Any]]] = {name: [] for name in SPLITS}
    for example in sorted(kept, key=lambda e: e["example_id"]):
        splits[assignment[example["group_id"]]].append(example)

    features = _features()
    # An empty split is left out: datasets cannot save and reload a zero-row split.
    dataset = DatasetDict(
        {name: Dataset.from_list(rows, features=features) for name, rows in splits.items() if rows}
    )
    fractions = {VALIDATION: validation_fraction, TEST: test_fraction}
    stats = _stats(preset, tokenizer, seed, fractions, splits, rejected, too_long, no_answer)
    for kind, counts in mixture.items():
        counts["too_long_or_no_answer"] = counts["kept"] - sum(
            stats["per_split"][name]["kind"].get(kind, 0) for name in SPLITS
        )
        counts["kept"] -= counts["too_long_or_no_answer"]
    stats.update(mixture=mixture, conversation_format=conversation_format)
    return dataset, stats


def _stats(
    preset: Preset,
    tokenizer: Any,
    seed: int,
    fractions: Mapping[str, float],
    splits: dict[str, list[dict[str, Any]]],
    rejected: _Rejections,
    too_long: list[dict[str, Any]],
    no_answer: list[str],
) -> dict[str, Any]:
    """What the lead puts into the materialization metadata.

    Keys: preset, max_length, seed, split_fractions (validation, test), stratified_by,
    chat_template_sha256, examples_total, examples_per_split, groups_per_split,
    per_split (kind/emotion/style/source/backend counts per split), token_lengths (min/p50/p95/max/mean of all kept examples),
    answer_token_lengths, filtered (counts by reason), too_long (first LISTED_LIMIT
    ``{id, tokens}``), invalid_rows (first LISTED_LIMIT ``{id, reason}``), no_answer_ids;
    ``build_examples`` adds mixture (per kind: candidates, capped, too_long_or_no_answer,
    kept) and conversation_format.
    """
    everything = [row for rows in splits.values() for row in rows]

    def counter(rows: list[dict[str, Any]], field: str) -> dict[str, int]:
        return dict(
            sorted(Counter(str(r[field]) if r[field] is not None else "none" for r in rows).items())
        )

    template = tokenizer.chat_template or ""
    filtered = dict(rejected.counts)
    filtered.update({"too_long": len(too_long), "no_answer_tokens": len(no_answer)})
    return {
        "preset": preset.name,
        "max_length": preset.max_length,
        "seed": seed,
        "split_fractions": dict(fractions),
        "stratified_by": "emotion",
        "chat_template_sha256": hashlib.sha256(template.encode("utf-8")).hexdigest(),
        "examples_total": len(everything),
        "examples_per_split": {name: len(rows) for name, rows in splits.items()},
        "groups_per_split": {
            name: len({r["group_id"] for r in rows}) for name, rows in splits.items()
        },
        "per_split": {
            name: {
                field: counter(rows, field)
                for field in ("kind", "emotion", "style", "source", "backend")
            }
            for name, rows in splits.items()
        },
        "token_lengths": length_summary([r["n_tokens"] for r in everything]),
        "answer_token_lengths": length_summary([r["n_answer_tokens"] for r in everything]),
        "filtered": dict(sorted(filtered.items())),
        "too_long": sorted(too_long, key=lambda r: -r["tokens"])[:LISTED_LIMIT],
        "invalid_rows": rejected.rows[:LISTED_LIMIT],
        "no_answer_ids": no_answer[:LISTED_LIMIT],
    }


def save_dataset(
    dataset: Any, stats: Mapping[str, Any], target: Path | str, tokenizer: Any = None
) -> Path:
    """Write the DatasetDict and its stats.json into ``target``, swapped in atomically;
    with ``tokenizer`` (the one the examples were built with), that tokenizer too, in
    ``TOKENIZER_DIR``, so training and serving use the ids the examples hold."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{target.name}.building-", dir=target.parent))
    try:
        dataset.save_to_disk(str(building))
        if tokenizer is not None:
            tokenizer.save_pretrained(str(building / TOKENIZER_DIR))
        (building / STATS_FILE).write_text(
            json.dumps(stats, ensure_ascii=False, indent=2), encoding="utf-8"
        )
        storage.replace_dir(building, target)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return target


def load_dataset(directory: Path | str) -> Any:
    """The DatasetDict saved by ``save_dataset``."""
    from datasets import load_from_disk

    return load_from_disk(str(directory))


def load_stats(directory: Path | str) -> dict[str, Any]:
    return json.loads((Path(directory) / STATS_FILE).read_text(encoding="utf-8"))


def load_tokenizer(
    preset: Preset, base_model: str | Path, conversation_format: str = CHAT_TEMPLATE
) -> Any:
    """The tokenizer examples are built with: the base model's, with the preset's template
    if it sets one, and with the special-token format's tokens added when
    ``conversation_format`` is SPECIAL_TOKENS (``conversations.special_tokens``)."""
    from transformers import AutoTokenizer

    check_model_access(preset, base_model)
    tokenizer = AutoTokenizer.from_pretrained(str(base_model))
    if preset.chat_template is not None:
        tokenizer.chat_template = preset.chat_template
    if tokenizer.pad_token is None:  # some bases ship without one; padding is masked anyway
        tokenizer.pad_token = tokenizer.eos_token
    if conversation_format == SPECIAL_TOKENS:
        from darija_assets.conversations.special_tokens import add_special_tokens

        add_special_tokens(tokenizer)
    return tokenizer


def dataset_tokenizer(directory: Path | str, preset: Preset, base_model: str | Path) -> Any:
    """The tokenizer the dataset in ``directory`` was built with: the one saved with it
    (``save_dataset(..., tokenizer=)``), else the base model's (``load_tokenizer``)."""
    from transformers import AutoTokenizer

    saved = Path(directory) / TOKENIZER_DIR
    if saved.is_dir():
        return AutoTokenizer.from_pretrained(str(saved))
    return load_tokenizer(preset, base_model)


def added_tokens(tokenizer: Any, preset: Preset, base_model: str | Path) -> dict[str, int]:
    """Tokens of ``tokenizer`` that the base model's tokenizer lacks, with their ids (in
    id order): the rows a model must grow and train for them."""
    base_vocab = load_tokenizer(preset, base_model).get_vocab()
    return dict(
        sorted(
            ((token, i) for token, i in tokenizer.get_vocab().items() if token not in base_vocab),
            key=lambda item: item[1],
        )
    )


class DynamicPaddingCollator:
    """Pads a batch to its longest example: input ids with the pad token, labels with -100.

    Padding happens per batch at train time, so short examples cost short batches
    (the stored dataset is never padded).
    """

    def __init__(self, pad_token_id: int):
        self.pad_token_id = pad_token_id

    def __call__(self, features: list[Mapping[str, Any]]) -> dict[str, Any]:
        import torch

        longest = max(len(f["input_ids"]) for f in features)

        def padded(key: str, value: int) -> Any:
            return torch.tensor(
                [list(f[key]) + [value] * (longest - len(f[key])) for f in features],
                dtype=torch.long,
            )

        return {
            "input_ids": padded("input_ids", self.pad_token_id),
            "labels": padded("labels", formatting.IGNORE_INDEX),
            "attention_mask": torch.tensor(
                [
                    [1] * len(f["input_ids"]) + [0] * (longest - len(f["input_ids"]))
                    for f in features
                ],
                dtype=torch.long,
            ),
        }
