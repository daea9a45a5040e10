"""Client-side limits keep us under the vendor's quota instead of collecting 429s."""

from __future__ import annotations

import threading
import time

from darija_assets.llm.limiter import RateLimiter


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


def test_requests_per_minute_after_the_burst():
    clock = FakeClock()
    limiter = RateLimiter(rpm=60, burst_s=2, clock=clock.now, sleep=clock.sleep)
    waits = [round(limiter.acquire(), 6) for _ in range(5)]
    assert waits == [0.0, 0.0, 1.0, 1.0, 1.0]  # two in the bucket, then one per second
    assert clock.t == 103.0


def test_tokens_per_minute_including_an_oversized_request():
    clock = FakeClock()
    limiter = RateLimiter(tpm=600, burst_s=1, clock=clock.now, sleep=clock.sleep)  # 10 tokens/s
    assert limiter.acquire(tokens=10) == 0.0
    assert round(limiter.acquire(tokens=5), 6) == 0.5
    # Bigger than the bucket: waits for a full bucket instead of forever.
    assert round(limiter.acquire(tokens=50), 6) == 1.0


def test_pause_for_holds_everyone_back():
    clock = FakeClock()
    limiter = RateLimiter(rpm=6000, clock=clock.now, sleep=clock.sleep)
    limiter.pause_for(3.0)
    assert limiter.acquire() == 3.0
    assert limiter.acquire() == 0.0
    assert limiter.waited_s == 3.0


def test_bounded_concurrency_and_thread_safety():
    limiter = RateLimiter(rpm=6000, max_concurrency=2, burst_s=0.01)  # 100 requests/s, no burst
    lock = threading.Lock()
    active, peak, served = 0, 0, 0

    def worker() -> None:
        nonlocal active, peak, served
        for _ in range(10):
            with limiter.slot():
                with lock:
                    active += 1
                    peak = max(peak, active)
                time.sleep(0.02)  # longer than the 10 ms spacing: slots overlap
                with lock:
                    active -= 1
                    served += 1

    started = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert served == 50 and peak == 2
    assert time.monotonic() - started >= 0.49 - 0.01  # 50 requests at 100/s
