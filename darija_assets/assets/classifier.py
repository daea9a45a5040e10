"""emotion_classifier[kind]: a student trained on every source's teacher labels.

Partitioned by student kind (``linear``, ``encoder``) rather than one asset with a
config switch: the two are different models with their own artifacts, costs and
metrics, both can exist side by side (the CLI picks one with ``--kind``), and the UI
compares their materializations partition by partition.

With no teacher labels at all (the offline default labels with the lexicon, which
a student must not imitate unless asked), the asset reports itself skipped with the
reason instead of training on the lexicon's rules or failing the run.
"""

import dagster as dg

from darija_assets import checks
from darija_assets.assets.labels import teacher_labels
from darija_assets.assets.metadata import chart, scalar_stats
from darija_assets.assets.therapy import all_teacher_labels
from darija_assets.classifier import KINDS
from darija_assets.resources import StorageResource

classifier_partitions = dg.StaticPartitionsDefinition(list(KINDS))

CHECK_NAME = "macro_f1_above_baseline"


class ClassifierConfig(dg.Config):
    #: share of every label held out for evaluation (seeded, stratified)
    test_share: float = 0.2
    seed: int = 42
    #: also learn from the offline lexicon's rows (off: a student should imitate a teacher)
    include_offline: bool = False
    #: "balanced" (weights inverse to label frequency) or "none"
    class_weight: str = "balanced"
    # linear: character n-gram range and inverse regularisation strength
    ngram_min: int = 2
    ngram_max: int = 5
    c: float = 1.0
    # encoder: base preset (tiny, darijabert, marbert) or a local directory / Hub id,
    # and the original recipe's training settings
    encoder_base: str = "tiny"
    epochs: float = 3.0
    max_steps: int = -1
    learning_rate: float = 1e-4
    batch_size: int = 16
    max_length: int = 128
    warmup_steps: int = 100


def _settings(kind: str, config: ClassifierConfig):
    from darija_assets.classifier.encoder import EncoderParams
    from darija_assets.classifier.linear import LinearParams
    from darija_assets.classifier.train import ClassifierSettings

    return ClassifierSettings(
        kind=kind,
        test_share=config.test_share,
        seed=config.seed,
        include_offline=config.include_offline,
        linear=LinearParams(
            ngram_min=config.ngram_min,
            ngram_max=config.ngram_max,
            c=config.c,
            class_weight=None if config.class_weight == "none" else config.class_weight,
        ),
        encoder=EncoderParams(
            base=config.encoder_base,
            max_length=config.max_length,
            epochs=config.epochs,
            max_steps=config.max_steps,
            learning_rate=config.learning_rate,
            batch_size=config.batch_size,
            warmup_steps=config.warmup_steps,
            seed=config.seed,
        ),
    )


def _table(rows: list[dict], columns: dict[str, str]) -> dg.MetadataValue:
    return dg.MetadataValue.table(
        records=[dg.TableRecord({k: row[k] for k in columns}) for row in rows],
        schema=dg.TableSchema(columns=[dg.TableColumn(k, t) for k, t in columns.items()]),
    )


@dg.asset(
    partitions_def=classifier_partitions,
    deps=[dg.AssetDep(teacher_labels, partition_mapping=dg.AllPartitionMapping())],
    group_name="classifier",
    kinds={"sklearn", "pytorch"},
    check_specs=checks.partitioned(
        classifier_partitions,
        [
            checks.spec(
                "emotion_classifier",
                CHECK_NAME,
                "Held-out macro-F1 beats always predicting the most frequent training label.",
            )
        ],
    ),
)
def emotion_classifier(
    context: dg.AssetExecutionContext, config: ClassifierConfig, storage: StorageResource
) -> dg.MaterializeResult:
    """A student emotion classifier with held-out metrics, a confusion matrix and a model card."""
    from darija_assets.classifier.data import InsufficientData
    from darija_assets.classifier.encoder import EncoderUnavailable
    from darija_assets.classifier.train import CARD_FILE, CONFUSION_PNG, train_classifier

    kind = context.partition_key
    layout = storage.layout()
    labels, sources = all_teacher_labels(layout)
    target = layout.artifact("emotion_classifier", kind)
    try:
        report = train_classifier(
            labels,
            target,
            _settings(kind, config),
            base_dir=layout.artifact("base_model", "tiny-encoder"),
            work_dir=layout.work("emotion_classifier", kind),
            log=context.log.info,
        )
    except InsufficientData as reason:
        context.log.warning("emotion_classifier[%s] skipped: %s", kind, reason)
        return dg.MaterializeResult(
            metadata={
                "status": "skipped",
                "reason": str(reason),
                "teacher_labels_rows": labels.height,
                "sources": ", ".join(sources),
                "previous_model": dg.MetadataValue.path(str(target)) if target.exists() else "none",
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name=CHECK_NAME,
                    passed=False,
                    severity=dg.AssetCheckSeverity.WARN,
                    description=f"skipped: {reason}",
                )
            ],
        )
    except EncoderUnavailable as error:
        raise dg.Failure(description=str(error)) from error

    ev = report.evaluation
    png = (target / CONFUSION_PNG).read_bytes()
    teachers_text = ", ".join(f"{t['backend']}/{t['model']} ({t['rows']})" for t in report.teachers)
    return dg.MaterializeResult(
        metadata={
            "status": "trained",
            "accuracy": round(ev.accuracy, 4),
            "macro_f1": round(ev.macro_f1, 4),
            "baseline_accuracy": round(ev.baseline_accuracy, 4),
            "baseline_macro_f1": round(ev.baseline_macro_f1, 4),
            "majority_label": ev.majority_label,
            **scalar_stats(report.counts),
            "per_class": _table(
                ev.per_class,
                {
                    "label": "string",
                    "precision": "float",
                    "recall": "float",
                    "f1": "float",
                    "support": "int",
                },
            ),
            "confusion_matrix": chart(png, "confusion matrix"),
            "label_distribution": _table(
                [{"label": k, **v} for k, v in report.label_distribution.items()],
                {"label": "string", "train": "int", "held_out": "int"},
            ),
            "teachers": teachers_text,
            "sources": ", ".join(report.sources),
            "model_card": dg.MetadataValue.path(str(target / CARD_FILE)),
            "path": dg.MetadataValue.path(str(target)),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=CHECK_NAME,
                # strictly above: a student that only ever says the majority label ties it
                passed=ev.macro_f1 > ev.baseline_macro_f1,
                metadata={
                    "macro_f1": round(ev.macro_f1, 4),
                    "baseline_macro_f1": round(ev.baseline_macro_f1, 4),
                    "majority_label": ev.majority_label,
                },
            )
        ],
    )
