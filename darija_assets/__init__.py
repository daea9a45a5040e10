"""darija-assets: a Dagster asset graph for Darija NLP.

``darija_assets.defs`` is the code location's Definitions, so
``dagster asset materialize -m darija_assets ...`` works. It is resolved lazily
(PEP 562): the crawler and training subprocesses import ``darija_assets.*``
without paying for Dagster and the whole graph.
"""


def __getattr__(name: str):
    if name == "defs":
        from darija_assets.definitions import defs

        return defs
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), "defs"])
