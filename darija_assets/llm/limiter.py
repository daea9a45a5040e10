"""Client-side rate limits: requests per minute, tokens per minute, concurrency.

Vendors meter per minute and answer 429 when we go over; staying under the limit
on our side is cheaper than being told off. Each limit is a token bucket that
refills continuously at ``limit / 60`` per second and holds at most ``burst_s``
seconds' worth, so a cold start cannot dump a whole minute's quota at once.
A 429 from the server calls ``pause_for`` so every worker backs off together,
not only the one that was refused.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class _Bucket:
    def __init__(self, per_minute: float, burst_s: float, now: float):
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate * burst_s)
        self.level = self.capacity
        self.updated = now

    def refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self.updated) * self.rate)
        self.updated = now

    def wait_for(self, amount: float) -> float:
        """Seconds until ``amount`` is available (0 when it is). An amount larger than
        the bucket only needs a full bucket, or it could never be served."""
        need = min(amount, self.capacity)
        return 0.0 if self.level >= need else (need - self.level) / self.rate


class RateLimiter:
    """Thread-safe RPM/TPM limits plus a cap on requests in flight.

    ``clock`` and ``sleep`` are injectable so tests can run on a fake clock.
    """

    def __init__(
        self,
        *,
        rpm: float | None = None,
        tpm: float | None = None,
        max_concurrency: int | None = None,
        burst_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self._clock, self._sleep = clock, sleep
        now = clock()
        self._requests = _Bucket(rpm, burst_s, now) if rpm else None
        self._tokens = _Bucket(tpm, burst_s, now) if tpm else None
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_concurrency) if max_concurrency else None
        self._paused_until = 0.0
        self.rpm, self.tpm, self.max_concurrency = rpm, tpm, max_concurrency
        #: seconds callers spent waiting in ``acquire`` (for metadata)
        self.waited_s = 0.0

    def acquire(self, tokens: int = 0, requests: int = 1) -> float:
        """Block until ``requests`` requests carrying ``tokens`` estimated tokens in
        all may go out; return the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                delay = max(0.0, self._paused_until - now)
                for bucket, amount in ((self._requests, requests), (self._tokens, tokens)):
                    if bucket is not None:
                        bucket.refill(now)
                        delay = max(delay, bucket.wait_for(amount))
                if delay <= 0:
                    if self._requests is not None:
                        self._requests.level -= min(requests, self._requests.capacity)
                    if self._tokens is not None:
                        self._tokens.level -= min(tokens, self._tokens.capacity)
                    self.waited_s += waited
                    return waited
            self._sleep(delay)
            waited += delay

    def pause_for(self, seconds: float) -> None:
        """Hold every request back for ``seconds`` (the server said retry-after)."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)

    @contextmanager
    def slot(self, tokens: int = 0, requests: int = 1) -> Iterator[None]:
        """A concurrency slot and the rate allowance for ``requests`` requests."""
        if self._slots is not None:
            self._slots.acquire()
        try:
            self.acquire(tokens, requests)
            yield
        finally:
            if self._slots is not None:
                self._slots.release()


def estimate_tokens(text: str) -> int:
    """A cheap upper-ish estimate for budgeting: about 3 characters per token for
    Arabic script under common tokenizers."""
    return len(text) // 3 + 1
