"""Transport faults worth another try, whichever httpx flavour an SDK runs on
(google-genai uses ``httpx2`` when it is installed, groq uses ``httpx``)."""

from __future__ import annotations

import httpx


def _transport_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [httpx.TransportError]
    try:
        import httpx2

        errors.append(httpx2.TransportError)
    except ImportError:
        pass
    return tuple(errors)


TRANSPORT_ERRORS = _transport_errors()


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``retry-after`` header (delta-seconds form; vendors also send
    fractional values such as ``1.5``). HTTP-dates are rare here and ignored."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
