from pathlib import Path

#: the checkout: dagster.yaml, workspace.yaml and the package beside the tests
REPO_ROOT = Path(__file__).resolve().parent.parent

#: the asset keys of the graph: the design card's eight, and the stages issues added
GRAPH_ASSETS = frozenset(
    {
        "raw_corpus",
        "clean_text",
        "sentences",
        "teacher_labels",
        "therapy_pairs",
        "translations",
        "tokenized_dataset",
        "lora_adapter",
        # beyond the card's eight: the student classifier of issue 12
        "emotion_classifier",
        # issue 15: the evaluation gate and the export for Ollama and vLLM
        "adapter_eval",
        "model_export",
        # issue 13: chat exports and therapy sessions as turns and examples
        "conversations",
    }
)
