"""What calibration refuses to fit, one line each (UsageError), before any fit runs: every door (CSV, measurement store,
Zeus windows, `--measure`) reaches the fit through here.

- a latency or energy that is not a finite number > 0, or a batch < 1;
- an implied power, energy per item x batch / latency, above the part's limit x 1.1 (mJ read as J, 1e300 J) or
  under 1% of it (J read as mJ);
- a forward whose measured / projected latency (or energy) ratio is UNIT_RATIO (100x) or more away from the median
  ratio of the other forwards (one row in ms in a seconds column), or a median ratio itself 100x or more away from 1
  (a whole column in the wrong unit): a physics projection is off by some tens of percent, a unit by 1000x.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import UsageError
from ..profiles import HardwareProfile
from .calibrate_bounds import MAX_POWER_SHARE, power_limit_w

UNIT_RATIO = 100.0
MIN_POWER_SHARE = 0.01


def _finite_positive(x: float | None) -> bool:
    return x is not None and isinstance(x, (int, float)) and math.isfinite(x) and x > 0


def check_observations(observations, hw: HardwareProfile, blind_latency_s, blind_energy_j) -> None:
    """Raise UsageError naming the first hostile measurement (module docstring)."""
    limit = power_limit_w(hw)
    for o in observations:
        where = f"measurement '{o.name}' batch {o.batch}"
        if not (isinstance(o.batch, int) and o.batch >= 1):
            raise UsageError(f"{where}: batch must be an integer >= 1")
        if not _finite_positive(o.latency_s):
            raise UsageError(f"{where}: latency {o.latency_s!r} s is not a finite number > 0")
        if o.energy_j_per_item is not None and not _finite_positive(o.energy_j_per_item):
            raise UsageError(f"{where}: energy {o.energy_j_per_item!r} J per item is not a finite number > 0")
    _ratios([o.latency_s for o in observations], blind_latency_s, observations, "latency")
    for o in observations:
        where = f"measurement '{o.name}' batch {o.batch}"
        if o.energy_j_per_item is None:
            continue
        power = o.energy_j_per_item * o.batch / o.latency_s
        if limit is not None and power > MAX_POWER_SHARE * limit:
            raise UsageError(f"{where}: {o.energy_j_per_item:.4g} J per item in {o.latency_s:.4g} s implies {power:.4g} W, above "
                             f"{hw.name}'s limit {limit:g} W x {MAX_POWER_SHARE:g} (energy in mJ read as J?)")
        if limit is not None and power < MIN_POWER_SHARE * limit:
            raise UsageError(f"{where}: {o.energy_j_per_item:.4g} J per item in {o.latency_s:.4g} s implies {power:.4g} W, under "
                             f"{MIN_POWER_SHARE:.0%} of {hw.name}'s limit {limit:g} W (energy in J read as mJ?)")
    with_e = [i for i, o in enumerate(observations) if o.energy_j_per_item is not None]
    if len(with_e) >= 2:
        _ratios([observations[i].energy_j_per_item for i in with_e], [blind_energy_j[i] for i in with_e],
                [observations[i] for i in with_e], "energy")


def _ratios(measured, projected, observations, what: str) -> None:
    r = np.log(np.asarray(measured, dtype=float) / np.maximum(np.asarray(projected, dtype=float), 1e-300))
    big = math.log(UNIT_RATIO)
    if len(r) >= 3:
        for i, o in enumerate(observations):
            others = float(np.median(np.delete(r, i)))
            if abs(r[i] - others) >= big:
                raise UsageError(f"measurement '{o.name}' batch {o.batch}: its {what} is {math.exp(r[i] - others):.3g}x what its "
                                 f"siblings' imply (against the projection): a unit off (ms in a seconds column?)")
    mid = float(np.median(r))
    if abs(mid) >= big:
        raise UsageError(f"the measured {what}s are a median {math.exp(mid):.3g}x the projection: a unit off "
                         f"({'ms read as s, or mJ as J' if mid > 0 else 's read as ms, or J as mJ'}?)")
