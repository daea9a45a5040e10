"""The local transformers backend on a tiny model built here (no download).

Why: the local backend must really load a model directory offline, render chat
prompts, and generate for several prompts at once with left padding. A random
tiny model answers garbage, and the pipeline must say so (quarantine with
reasons) rather than produce labels.
"""

from __future__ import annotations

import pytest

from darija_assets.llm.backends import make_backend
from darija_assets.llm.base import BackendUnavailable, Prompt
from darija_assets.llm.runner import MISSING_ID_REASON, run_task
from darija_assets.llm.tasks.labels import LabelTask

from .conftest import SENTENCES, darija_items

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}</s>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    path = tmp_path_factory.mktemp("tiny-llm")
    special = ["<pad>", "</s>", "<unk>", "<|system|>", "<|user|>", "<|assistant|>"]
    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    corpus = SENTENCES + ['{"labels": [{"id": "1", "label": "Joy"}]}', "Label these sentences"]
    bpe.train_from_iterator(corpus, trainers.BpeTrainer(
        vocab_size=300, special_tokens=special, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    from tokenizers import decoders

    bpe.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, pad_token="<pad>", eos_token="</s>",
                                        unk_token="<unk>")
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(path)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2,
                         max_position_embeddings=4096, pad_token_id=tokenizer.pad_token_id,
                         eos_token_id=tokenizer.eos_token_id, bos_token_id=None)
    LlamaForCausalLM(config).save_pretrained(path)
    return path


def test_batched_generation_matches_one_at_a_time(tiny_model_dir):
    backend = make_backend("transformers", model=str(tiny_model_dir), max_new_tokens=8)
    assert (backend.name, backend.model) == ("transformers", tiny_model_dir.name)
    short = Prompt(system="Label.", user="فرحان")
    long = Prompt(system="Label.", user=" ".join(SENTENCES))
    together = backend.complete_many([short, long])
    alone = [backend.complete(short), backend.complete(long)]
    # Left padding: the short prompt's answer does not change when it shares a batch.
    assert [c.text for c in together] == [c.text for c in alone]
    assert all(c.text for c in together)
    assert together[1].input_tokens > together[0].input_tokens > 0
    assert all(0 < c.output_tokens <= 8 for c in together)


def test_garbage_answers_are_quarantined_not_turned_into_labels(tiny_model_dir):
    backend = make_backend("transformers", model=str(tiny_model_dir), max_new_tokens=12,
                           prompts_per_call=2)
    items = darija_items(5)
    result = run_task(LabelTask(batch_size=3), items, backend, None, max_retries=1, concurrency=1)

    assert result.rows == []
    assert [q["key"] for q in result.quarantined] == [i.key for i in items]
    for q in result.quarantined:
        assert q["reason"].startswith("answer is not valid JSON") or q["reason"] in (
            MISSING_ID_REASON, 'answer JSON has no "labels" array')
        assert q["backend"] == "transformers"
    # 2 first-round prompts (3 + 2 items), then each item alone once (max_retries=1).
    assert result.stats["requests_sent"] == 2 + 5


def test_missing_local_model_is_unavailable(tmp_path):
    with pytest.raises(BackendUnavailable, match="no local model"):
        make_backend("transformers", model=str(tmp_path / "nothing-here"))
    with pytest.raises(BackendUnavailable, match="DARIJA_LOCAL_MODEL"):
        make_backend("transformers", env={})
