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
    """(hi - lo) / 2 / median of the robust CI: the +- fraction --target-ci refers to."""
    lo, hi = robust_median_ci(samples, confidence)
    med = float(np.median(samples))
    return (hi - lo) / 2 / med if med > 0 else math.inf


BLOCKS = 8


def block_median_ci(samples: list[float], blocks: int = BLOCKS, confidence: float = 0.95) -> tuple[float, float]:
    """CI of the median that also covers slow drift: the samples, in time order, are cut into `blocks`
    consecutive blocks; the block medians' spread gives median -+ t(blocks-1) x sd / sqrt(blocks).
    Order statistics alone assume independent samples, which latency on a shared machine is not."""
    n = len(samples)
    if n < 2 * blocks:
        return median_ci(samples, confidence)
    meds = np.array([np.median(b) for b in np.array_split(np.asarray(samples, dtype=np.float64), blocks)])
    from math import sqrt

    t = _t_quantile(0.5 + confidence / 2, blocks - 1)
    half = t * float(meds.std(ddof=1)) / sqrt(blocks)
    med = float(np.median(samples))
    return med - half, med + half


def _t_quantile(p: float, dof: int) -> float:
    """Student t quantile (Cornish-Fisher expansion around the normal; within 0.5% for dof >= 5)."""
    z = NormalDist().inv_cdf(p)
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    return z + g1 / dof + g2 / dof**2 + g3 / dof**3


def robust_median_ci(samples: list[float], confidence: float = 0.95) -> tuple[float, float]:
    """The wider of the order-statistic CI and the block-median CI."""
    a_lo, a_hi = median_ci(samples, confidence)
    b_lo, b_hi = block_median_ci(samples, BLOCKS, confidence)
    return min(a_lo, b_lo), max(a_hi, b_hi)
