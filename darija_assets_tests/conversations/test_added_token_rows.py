"""lora_adapter's choice of rows for added tokens, on real tiny models with real peft: only
the added rows train, in the input embeddings and in an untied LM head alike, and trl's
fused head can read the wrapped head."""

from __future__ import annotations

import pytest

ADDED = [50, 51, 52]


def _model(tied: bool):
    import torch
    from transformers import Gemma2Config, Gemma2ForCausalLM

    config = Gemma2Config(
        vocab_size=50,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=8,
        tie_word_embeddings=tied,
    )
    torch.manual_seed(0)
    model = Gemma2ForCausalLM(config)
    model.resize_token_embeddings(50 + len(ADDED))
    return model


@pytest.mark.parametrize("tied", [True, False])
def test_only_the_added_rows_train_in_embeddings_and_head(tied):
    import torch
    from peft import LoraConfig, get_peft_model

    from darija_assets.training.trainer import _expose_head_bias, _new_token_rows

    model = _model(tied)
    rows = _new_token_rows(model, ADDED)
    assert rows == (ADDED if tied else {"embed_tokens": ADDED, "lm_head": ADDED})
    config = LoraConfig(
        r=2, target_modules=["q_proj"], trainable_token_indices=rows, task_type="CAUSAL_LM"
    )
    peft_model = get_peft_model(model, config)
    _expose_head_bias(peft_model)
    assert peft_model.get_output_embeddings().bias is None  # what trl's fused head reads
    out = peft_model(
        input_ids=torch.tensor([[1, 50, 2, 51]]), labels=torch.tensor([[1, 50, 2, 52]])
    )
    out.loss.backward()
    deltas = {
        name.split(".token_adapter")[0].rsplit(".", 1)[-1]: param
        for name, param in peft_model.named_parameters()
        if param.requires_grad and "trainable_tokens_delta" in name
    }
    # a tied head follows the embedding's rows; an untied one has rows of its own
    assert sorted(deltas) == (["embed_tokens"] if tied else ["embed_tokens", "lm_head"])
    for delta in deltas.values():
        assert delta.shape == (len(ADDED), 16)
        assert delta.grad is not None and delta.grad.abs().sum() > 0
    # the base rows stay frozen
    assert not any(
        p.requires_grad for n, p in peft_model.named_parameters() if n.endswith("base_layer.weight")
    )
