"""Terminal lines for `calibrate`: each measurement it was fitted on, its prediction and error, and the summary."""

from __future__ import annotations

from typing import Any

from .safe import terminal


def render_calibration(summary: dict[str, Any]) -> None:
    for row in summary["fitted_on"]:
        e = "" if row["energy_error"] is None else f"  energy error {row['energy_error']:+.1%}"
        print(terminal(f"{row['model']:<24} {row['dtype']:<5} {row['runtime']:<5} batch {row['batch']:>3}  measured "
              f"{row['measured_s'] * 1e3:9.3f} ms  fitted {row['predicted_s'] * 1e3:9.3f} ms  error {row['error']:+.1%}{e}"))
    em = summary["energy_median_abs_error"]
    print(terminal(f"latency median |error| {summary['median_abs_error']:.1%}, p90 {summary['p90_abs_error']:.1%}"
          + (f"; energy median |error| {em:.1%}" if em is not None else "") + f"; wrote {summary['profile']}"))


def render_training_calibration(summary: dict[str, Any], said: str) -> None:
    v = summary["values"]
    em = summary["energy_median_abs_error"]
    print(terminal(f"autograd host {v['autograd_host_s'] * 1e6:.3g} us per backward operator, backward matrix kernels "
          f"x{v['backward_slowdown']:.3g}; {said}" + (f"; energy median |error| {em:.1%}" if em is not None else "")
          + f"; wrote {summary['profile']}"))
