"""The one Definitions object of the darija-assets code location.

Loading it must stay fast: no torch, transformers, peft, trl, bitsandbytes or
scrapy import happens here (asset bodies import them when they run).
"""

from __future__ import annotations

import dagster as dg

from darija_assets.assets import (
    classifier,
    conversations,
    corpus,
    labels,
    serving,
    therapy,
    training,
    translations,
)
from darija_assets.launch import demo_step
from darija_assets.recovery import dead_run_sensor, executor
from darija_assets.resources import CrawlerResource, LLMResource, StorageResource, secret
from darija_assets.schedules import build_automation_sensor, build_recrawl_schedule
from darija_assets.training.presets import PRESETS

#: the model partitions stay the same on every machine (the webserver and a GPU run worker
#: must agree on them), so "Materialize all" offers every preset: pick partitions instead
GPU_PRESETS_NOTE = (
    f"The presets {', '.join(p.name for p in PRESETS.values() if p.requires_cuda)} need a GPU "
    "worker (CUDA): on a CPU-only machine choose "
    f"{', '.join(p.name for p in PRESETS.values() if not p.requires_cuda)}. "
)

corpus_job = dg.define_asset_job(
    "corpus_job",
    selection=dg.AssetSelection.assets(
        corpus.raw_corpus, corpus.clean_text, corpus.sentences, labels.teacher_labels
    ),
    description="Crawl or import one source, clean it, split it and label its sentences. "
    + demo_step("corpus_job"),
)
therapy_job = dg.define_asset_job(
    "therapy_job",
    selection=dg.AssetSelection.assets(therapy.therapy_pairs, translations.translations),
    description="Balanced patient-therapist pairs for one emotion, and their translations. "
    + demo_step("therapy_job"),
)
training_job = dg.define_asset_job(
    "training_job",
    selection=dg.AssetSelection.assets(training.tokenized_dataset, training.lora_adapter),
    description="Tokenize the pairs for one model preset and train its LoRA adapter. "
    + GPU_PRESETS_NOTE
    + demo_step("training_job"),
)
serving_job = dg.define_asset_job(
    "serving_job",
    selection=dg.AssetSelection.assets(serving.adapter_eval, serving.model_export),
    description="Gate one preset's adapter against its base, then export it for Ollama and "
    "vLLM. " + GPU_PRESETS_NOTE + demo_step("serving_job"),
)
conversations_job = dg.define_asset_job(
    "conversations_job",
    selection=dg.AssetSelection.assets(conversations.conversations),
    description="Read one chat export or session file as turns and build its training examples.",
)
classifier_job = dg.define_asset_job(
    "classifier_job",
    selection=dg.AssetSelection.assets(classifier.emotion_classifier),
    description="Train one kind of student emotion classifier on every source's teacher "
    "labels. " + demo_step("classifier_job"),
)


def _llm(**overrides) -> LLMResource:
    return LLMResource(
        gemini_api_key=secret("GEMINI_API_KEY"),
        groq_api_key=secret("GROQ_API_KEY"),
        openai_api_key=secret("OPENAI_API_KEY"),
        **overrides,
    )


defs = dg.Definitions(
    assets=dg.load_assets_from_modules(
        [corpus, labels, therapy, translations, training, classifier, serving, conversations]
    ),
    jobs=[corpus_job, therapy_job, training_job, classifier_job, serving_job, conversations_job],
    schedules=[build_recrawl_schedule(corpus_job)],
    sensors=[dead_run_sensor, build_automation_sensor()],
    # Dagster's default executor that also fails dead runs before queuing for a pool
    executor=executor,
    resources={
        "storage": StorageResource(),
        "crawler": CrawlerResource(),
        "pipes_subprocess_client": dg.PipesSubprocessClient(),
        "llm": _llm(),
        # The original project translated with Groq's llama-3.3-70b-versatile at temperature 0.
        "translator": _llm(),
    },
)
