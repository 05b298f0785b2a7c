"""Retry timing: exponential backoff with full jitter and a cap (AWS architecture blog's "full jitter")."""

from __future__ import annotations

import random


def backoff_seconds(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Delay before the attempt after `attempt` (1-based): uniform in [0, min(cap, base · 2^(attempt-1))].

    Full jitter spreads the retries of many jobs that failed together instead of retrying them in waves.
    """
    ceiling = min(cap, base * 2 ** min(max(attempt - 1, 0), 62))
    return (rng or random).uniform(0.0, ceiling) if ceiling > 0 else 0.0
