"""Distribution-free statistics for latency samples (pure functions)."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np


def percentile(samples: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(samples, dtype=np.float64), q))


def median_ci(samples: list[float], confidence: float = 0.95) -> tuple[float, float]:
    """Confidence interval of the median from order statistics (binomial, normal approximation):
    ranks n/2 -+ z sqrt(n)/2, 1-based and clamped. Makes no assumption about the latency distribution,
    which is skewed (long right tail) on real machines."""
    n = len(samples)
    if n == 0:
        raise ValueError("no samples")
    s = sorted(samples)
    if n < 6:
        return s[0], s[-1]
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    lo = max(1, math.floor(n / 2 - z * math.sqrt(n) / 2))
    hi = min(n, math.ceil(1 + n / 2 + z * math.sqrt(n) / 2))
    return s[lo - 1], s[hi - 1]


def relative_half_width(samples: list[float], confidence: float = 0.95) -> float:
    """(hi - lo) / 2 / median: the +- fraction the issue's --target-ci refers to."""
    lo, hi = median_ci(samples, confidence)
    med = float(np.median(samples))
    return (hi - lo) / 2 / med if med > 0 else math.inf
