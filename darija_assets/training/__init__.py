"""Training: presets, chat formatting and masking, the tiny base model, the LoRA trainer, chat CLI.

Plain modules with no Dagster import. Every module here imports torch,
transformers, peft, trl and datasets only inside functions, so importing one is
cheap; ``presets`` imports nothing heavy at all, as the code location loads it.
"""
