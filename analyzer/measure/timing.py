"""Adaptive timing loop: warm up until stable, then repeat until the median's 95% CI is within the target
or the time budget ends. The clock and the timed function are injected, so tests drive it with recorded
durations and no sleeping."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .stats import percentile, relative_half_width, robust_median_ci

WARMUP_GROUP = 5
WARMUP_STABLE = 0.05  # consecutive warm-up group medians within 5%
WARMUP_SHARE = 0.3  # at most this share of the budget goes to warm-up
MIN_SAMPLES = 30
MIN_TIMED_S = 3.0  # and at least this long (within the budget): a CI from a blink of time hides drift


@dataclass(frozen=True)
class Timing:
    samples_s: tuple[float, ...]
    warmup_iterations: int
    median_s: float
    p10_s: float
    p90_s: float
    ci95_s: tuple[float, float]
    ci_rel: float  # half-width of the CI relative to the median
    converged: bool
    elapsed_s: float  # wall time of the timed (post-warm-up) phase
    note: str = ""


def timed(run: Callable[[], object], clock: Callable[[], float]) -> float:
    t0 = clock()
    run()
    return clock() - t0


def measure_latency(run: Callable[[], object], *, max_time_s: float = 30.0, target_ci: float = 0.02,
                    clock: Callable[[], float] = time.perf_counter, min_samples: int = MIN_SAMPLES,
                    max_samples: int = 1_000_000, sample: Callable[[], float] | None = None) -> Timing:
    """Time `run` adaptively. Returns percentiles, the median's 95% CI and whether it met `target_ci`.
    `sample`, when given, runs once and returns that run's duration itself (CUDA events); the clock
    then only keeps the budget."""
    if sample is None:
        sample = lambda: timed(run, clock)  # noqa: E731
    start = clock()
    warm: list[float] = []
    prev = None
    while True:
        group = [sample() for _ in range(WARMUP_GROUP)]
        warm += group
        med = float(np.median(group))
        if prev is not None and abs(med - prev) <= WARMUP_STABLE * prev:
            break
        if clock() - start > WARMUP_SHARE * max_time_s:
            break
        prev = med
    t_measure = clock()
    samples: list[float] = []
    check_every = min_samples
    converged = False
    while True:
        samples.append(sample())
        n = len(samples)
        if n >= min_samples and n >= check_every and clock() - t_measure >= min(MIN_TIMED_S, 0.5 * max_time_s):
            check_every = int(n * 1.25) + 1  # re-check on a geometric schedule: O(log n) sorts
            if relative_half_width(samples) <= target_ci:
                converged = True
                break
        if clock() - start > max_time_s or n >= max_samples:
            converged = n >= min_samples and relative_half_width(samples) <= target_ci
            break
    ci = robust_median_ci(samples)
    rel = relative_half_width(samples)
    note = "" if converged else (
        f"95% CI of the median is +-{rel:.1%} after {len(samples)} iterations in the {max_time_s:g} s budget "
        f"(target +-{target_ci:.1%}); raise --max-time or reduce other load on the machine")
    return Timing(tuple(samples), len(warm), float(np.median(samples)), percentile(samples, 10), percentile(samples, 90),
                  ci, rel, converged, clock() - t_measure, note)
