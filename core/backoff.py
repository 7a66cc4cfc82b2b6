"""The one back-off: exponential with full jitter, so many processes retrying after the same
outage spread out instead of calling in lockstep (AWS Architecture Blog, "Exponential Backoff
And Jitter"; dramatiq's `compute_backoff`)."""

from __future__ import annotations

import random

MAX_EXPONENT = 16  # 2**16 x base is past any cap used here; keeps the arithmetic small


def backoff(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Seconds to wait before retry number `attempt` (1 for the first retry): a uniform draw
    from [0, min(cap, base x 2**(attempt - 1))]."""
    ceiling = min(cap, base * 2 ** min(max(attempt, 1) - 1, MAX_EXPONENT))
    return (rng or random).uniform(0, ceiling)
