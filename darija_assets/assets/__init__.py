"""Thin Dagster wiring, one module per stage of the graph.

These modules deliberately avoid ``from __future__ import annotations``: Dagster
inspects the ``context`` and resource annotations of asset functions when the
code location loads, and string annotations would hide them.
"""
