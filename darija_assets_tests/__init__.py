#: the eight asset keys the design card fixes
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
    }
)
