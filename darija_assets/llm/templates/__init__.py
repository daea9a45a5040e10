"""Offline therapist answers we wrote in Moroccan Darija, per emotion and style.

With no model available, therapy pairs still get answers a person wrote, and every
such row says so (backend ``offline-templates``). ``therapy_darija.json`` holds
three variants per emotion and style; an item's variant is picked by a hash of its
id, so the same pair always gets the same answer. The file is plain JSON so that
Darija speakers can improve the wording without touching code.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from importlib import resources

#: emotions outside the default label set (a configured DISGUST, say) use these
FALLBACK_EMOTION = "Neutral"


@lru_cache(maxsize=1)
def therapy_templates() -> dict[str, dict[str, tuple[str, ...]]]:
    """{emotion: {style: (variant, ...)}} as written in therapy_darija.json."""
    text = resources.files(__package__).joinpath("therapy_darija.json").read_text(encoding="utf-8")
    return {
        emotion: {style: tuple(variants) for style, variants in styles.items()}
        for emotion, styles in json.loads(text).items()
    }


def therapy_template(emotion: str, style: str, key: str) -> str:
    """The template answer for one pair: deterministic in ``key`` (the pair id)."""
    templates = therapy_templates()
    by_lower = {name.lower(): name for name in templates}
    styles = templates[by_lower.get(emotion.lower(), FALLBACK_EMOTION)]
    if style not in styles:
        raise ValueError(f"no template for style {style!r} (known: {', '.join(sorted(styles))})")
    variants = styles[style]
    index = int(hashlib.sha256(key.encode("utf-8")).hexdigest(), 16) % len(variants)
    return variants[index]
