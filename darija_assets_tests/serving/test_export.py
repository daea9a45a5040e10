"""Export on the tiny preset: merged weights equal base+adapter, and the Ollama/vLLM files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from darija_assets.serving import export
from darija_assets.serving.crisis import SYSTEM_GUIDANCE
from darija_assets.training.presets import PRESETS

#: fp32 on CPU: merging reorders the same additions, so differences are rounding only
LOGITS_ATOL = 1e-4

INPUTS = ["كنحس براسي بوحدي", "خفت بزاف من الامتحان", "I feel alone"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory, tiny_base, tiny_adapter):
    target = tmp_path_factory.mktemp("export") / "tiny"
    return export.export_model(PRESETS["tiny"], tiny_base, tiny_adapter, target)


def test_merged_logits_equal_base_plus_adapter(exported, tiny_base, tiny_adapter):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_adapter))
    base = AutoModelForCausalLM.from_pretrained(str(tiny_base), dtype=torch.float32)
    with_adapter = PeftModel.from_pretrained(base, str(tiny_adapter)).eval()
    merged = AutoModelForCausalLM.from_pretrained(
        str(exported.target / "merged"), dtype=torch.float32
    ).eval()
    plain = AutoModelForCausalLM.from_pretrained(str(tiny_base), dtype=torch.float32).eval()
    for text in INPUTS:
        ids = tokenizer(text, return_tensors="pt")
        with torch.no_grad():
            expected = with_adapter(**ids).logits
            got = merged(**ids).logits
            untouched = plain(**ids).logits
        assert torch.allclose(got, expected, atol=LOGITS_ATOL), (got - expected).abs().max()
        # the adapter really changes the model, so equality above is not trivial
        assert not torch.allclose(untouched, expected, atol=LOGITS_ATOL)


def test_merged_weights_are_safetensors_in_the_serving_dtype(exported):
    from safetensors import safe_open

    files = list((exported.target / "merged").glob("*.safetensors"))
    assert files and exported.merged and exported.dtype == "float32"
    with safe_open(str(files[0]), "pt") as weights:
        names = list(weights.keys())
        assert not any("lora_" in n for n in names)  # merged, not an adapter
        assert str(weights.get_tensor(names[0]).dtype) == "torch.float32"
    assert export.serving_dtype(PRESETS["atlas-chat-9b"]) == "bfloat16"


def test_bf16_export_writes_bf16_weights(tmp_path, tiny_base, tiny_adapter):
    from safetensors import safe_open

    result = export.export_model(
        PRESETS["tiny"], tiny_base, tiny_adapter, tmp_path / "bf16", dtype="bfloat16"
    )
    (weights_file,) = (result.target / "merged").glob("*.safetensors")
    with safe_open(str(weights_file), "pt") as weights:
        names = weights.keys()  # safe_open handles are not iterable
        assert {str(weights.get_tensor(k).dtype) for k in names} == {"torch.bfloat16"}


def test_modelfile_has_template_stops_parameters_and_darija_system(exported, tiny_adapter):
    text = (exported.target / "Modelfile").read_text(encoding="utf-8")
    assert text.startswith("FROM ./merged\n")
    assert 'PARAMETER stop "<end_of_turn>"' in text
    assert "PARAMETER temperature 0.7" in text
    assert SYSTEM_GUIDANCE in text and "ماشي طبيب نفساني مرخّص" in text
    template = text.split('TEMPLATE """', 1)[1].split('"""', 1)[0]
    # Gemma's turn markers as Go string literals, and the trained user-turn wrapping
    assert '{{ "<start_of_turn>user\\n" }}' in template
    assert '{{ "<start_of_turn>model\\n" }}' in template
    assert '{{ "<end_of_turn>\\n" }}' in template
    assert 'Patient says: \\"' in template
    assert template.count("{{- range") == 1 and template.count("{{- end }}") == 2


def test_turn_markers_come_from_the_template_for_gemma_and_chatml():
    from darija_assets.training.templates import CHATML_STYLE
    from darija_assets.training.tiny import train_tokenizer

    gemma = export.turn_markers(train_tokenizer(["نص", "text"]))
    assert (gemma.bos, gemma.user_prefix, gemma.assistant_prefix, gemma.assistant_suffix) == (
        "<bos>",
        "<start_of_turn>user\n",
        "<start_of_turn>model\n",
        "<end_of_turn>\n",
    )
    assert gemma.system_prefix is None  # Gemma has no system role
    chatml_tokenizer = train_tokenizer(["نص", "text"], CHATML_STYLE)
    chatml = export.turn_markers(chatml_tokenizer)
    assert chatml.system_prefix == "<|im_start|>system\n"
    assert chatml.assistant_prefix == "<|im_start|>assistant\n"
    assert export.stop_tokens(chatml_tokenizer) == ["<|im_end|>"]


def test_readme_has_vllm_and_ollama_commands_and_reports_skips(exported, tiny_adapter):
    readme = (exported.target / "README.md").read_text(encoding="utf-8")
    assert f"--enable-lora --lora-modules darija={tiny_adapter}" in readme
    assert "ollama create darija-tiny -f Modelfile" in readme
    assert "not a licensed therapist" in readme
    card = (exported.target / "merged" / "README.md").read_text(encoding="utf-8")
    assert card.startswith("# darija-tiny (merged)") and "not a licensed therapist" in card
    report = json.loads((exported.target / "export.json").read_text(encoding="utf-8"))
    assert "gguf" in report["skipped"] and "llama.cpp" in report["skipped"]["gguf"]
    assert "merged/model.safetensors" in report["files"]


def test_hub_base_is_not_merged_and_says_why(tmp_path, tiny_adapter, monkeypatch):
    result = export.export_model(
        PRESETS["atlas-chat-2b"], "MBZUAI-Paris/Atlas-Chat-2B", tiny_adapter, tmp_path / "hub"
    )
    assert not result.merged and "Hub id" in result.skipped["merged"]
    text = (result.target / "Modelfile").read_text(encoding="utf-8")
    assert text.startswith(f"FROM ./base\nADAPTER {tiny_adapter}\n")
    readme = (result.target / "README.md").read_text()
    assert (
        f"huggingface-cli download MBZUAI-Paris/Atlas-Chat-2B --local-dir {result.target}/base"
        in readme
    )
    assert "vllm serve MBZUAI-Paris/Atlas-Chat-2B --enable-lora" in readme


def test_missing_adapter_is_a_clear_error(tmp_path, tiny_base):
    with pytest.raises(FileNotFoundError, match="no LoRA adapter"):
        export.export_model(PRESETS["tiny"], tiny_base, tmp_path / "none", tmp_path / "out")


def test_gguf_converter_found_through_env(tmp_path, monkeypatch):
    monkeypatch.setenv(export.LLAMA_CPP_ENV, str(tmp_path))
    assert export.gguf_converter() is None or Path(export.gguf_converter()).exists()
    (tmp_path / export.GGUF_CONVERTER).write_text("")
    assert export.gguf_converter() == tmp_path / export.GGUF_CONVERTER
