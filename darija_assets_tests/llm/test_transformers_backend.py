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
    bpe.train_from_iterator(
        corpus,
        trainers.BpeTrainer(
            vocab_size=300,
            special_tokens=special,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    from tokenizers import decoders

    bpe.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(path)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
    )
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
    backend = make_backend(
        "transformers", model=str(tiny_model_dir), max_new_tokens=12, prompts_per_call=2
    )
    items = darija_items(5)
    result = run_task(LabelTask(batch_size=3), items, backend, None, max_retries=1, concurrency=1)

    assert result.rows == []
    assert [q["key"] for q in result.quarantined] == [i.key for i in items]
    for q in result.quarantined:
        assert q["reason"].startswith("answer is not valid JSON") or q["reason"] in (
            MISSING_ID_REASON,
            'answer JSON has no "labels" array',
        )
        assert q["backend"] == "transformers"
    # 2 first-round prompts (3 + 2 items), then each item alone once (max_retries=1).
    assert result.stats["requests_sent"] == 2 + 5


def test_missing_local_model_is_unavailable(tmp_path):
    with pytest.raises(BackendUnavailable, match="no local model"):
        make_backend("transformers", model=str(tmp_path / "nothing-here"))
    with pytest.raises(BackendUnavailable, match="DARIJA_LOCAL_MODEL"):
        make_backend("transformers", env={})


# -- case 18: the stock Gemma-2 chat template refuses a system turn ----------------------
#: the stock gemma-2-it template (shared/cases/18_local_backend_gemma2_system_role)
GEMMA2_STOCK_TEMPLATE = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not "
    "supported') }}{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != "
    "(loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/"
    "user/assistant/...') }}{% endif %}{% if (message['role'] == 'assistant') %}{% set role = "
    "'model' %}{% else %}{% set role = message['role'] %}{% endif %}{{ '<start_of_turn>' + role + "
    "'\\n' + message['content'] | trim + '<end_of_turn>\\n' }}{% endfor %}{% if "
    "add_generation_prompt %}{{'<start_of_turn>model\\n'}}{% endif %}"
)


@pytest.fixture(scope="module")
def gemma2_template_model(tmp_path_factory):
    """What the case's make_model.py builds: the product's tiny model, with the stock
    Gemma-2 template on its tokenizer."""
    from transformers import AutoTokenizer

    from darija_assets.training.tiny import build_tiny_base

    target = tmp_path_factory.mktemp("gemma2-template") / "model"
    build_tiny_base(target, ["راني حاس براسي بوحدي بزاف", "واش كاين شي حاجة كتقلقك؟"])
    tokenizer = AutoTokenizer.from_pretrained(target)
    tokenizer.chat_template = GEMMA2_STOCK_TEMPLATE
    tokenizer.save_pretrained(target)
    return target


def test_the_case_template_is_the_stock_one():
    from pathlib import Path

    case = Path(
        "/work/shared/cases/18_local_backend_gemma2_system_role/gemma2_stock_template.jinja"
    )
    if not case.exists():
        pytest.skip("the shared cases directory is not on this machine")
    assert case.read_text(encoding="utf-8") == GEMMA2_STOCK_TEMPLATE


def test_gemma2_template_gets_the_system_text_in_the_first_user_turn(gemma2_template_model):
    from jinja2 import TemplateError

    backend = make_backend("transformers", model=str(gemma2_template_model), max_new_tokens=6)
    assert backend.folds_system
    with pytest.raises(TemplateError, match="System role not supported"):  # what used to happen
        backend._tokenizer.apply_chat_template(
            [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}], tokenize=False
        )
    prompt = LabelTask().build_prompt(darija_items(2))
    rendered = backend._render(prompt)
    assert rendered.count("<start_of_turn>user\n") == 1 and "<start_of_turn>system" not in rendered
    user_turn = rendered.split("<start_of_turn>user\n", 1)[1]
    assert user_turn.startswith(prompt.system.strip()[:60])
    assert "Label these 2 sentences" in user_turn
    assert rendered.endswith("<start_of_turn>model\n")


def test_gemma2_template_labels_run_end_to_end_without_a_template_error(gemma2_template_model):
    backend = make_backend(
        "transformers", model=str(gemma2_template_model), max_new_tokens=8, prompts_per_call=2
    )
    items = darija_items(4)
    result = run_task(LabelTask(batch_size=2), items, backend, None, max_retries=0, concurrency=1)
    # every batch was generated (one generate call for both prompts); the random tiny model
    # writes no JSON, so its answers are quarantined with the reason, never made labels
    assert result.stats["requests_sent"] == 2 and result.stats["items_per_s"] > 0
    assert [q["key"] for q in result.quarantined] == [i.key for i in items]
    assert all(q["reason"].startswith("answer is not valid JSON") for q in result.quarantined)


def test_a_native_system_role_on_such_a_template_is_refused_up_front(gemma2_template_model):
    with pytest.raises(BackendUnavailable, match="has no system role"):
        make_backend("transformers", model=str(gemma2_template_model), system_role="native")


def test_a_template_with_a_system_role_keeps_it(tiny_model_dir):
    backend = make_backend("transformers", model=str(tiny_model_dir), max_new_tokens=4)
    assert not backend.folds_system
    rendered = backend._render(Prompt(system="Label.", user="فرحان"))
    assert rendered.startswith("<|system|>Label.") and "<|user|>فرحان" in rendered


def test_a_refusing_template_is_detected_by_a_probe_not_only_by_name(tiny_model_dir, tmp_path):
    """A model whose id and architecture say nothing of Gemma, with Gemma's template."""
    import shutil

    from transformers import AutoTokenizer

    target = tmp_path / "plain-llama"
    shutil.copytree(tiny_model_dir, target)
    tokenizer = AutoTokenizer.from_pretrained(target)
    tokenizer.chat_template = GEMMA2_STOCK_TEMPLATE
    tokenizer.save_pretrained(target)
    backend = make_backend("transformers", model=str(target), max_new_tokens=4)
    assert backend.folds_system
    assert "<start_of_turn>system" not in backend._render(Prompt(system="Label.", user="فرحان"))
