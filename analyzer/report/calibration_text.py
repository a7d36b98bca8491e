"""Terminal lines for `calibrate`: each measurement it was fitted on with its uncalibrated, in-sample and left-out
error; each fitted value with its standard error; what was not fitted and why; the profile's name and path."""

from __future__ import annotations

from typing import Any

from .safe import terminal


def _pct(x: float | None) -> str:
    return "     n/a" if x is None else f"{x:+8.1%}"


def spread(log_se: float) -> str:
    """A standard error in log space as people read it: +-x% when small, a factor when not."""
    import math

    return f"+- {log_se:.0%}" if log_se < 0.5 else f"x/ {math.exp(log_se):.3g}"


def _median_line(what: str, blind: float | None, fitted: float | None, loo: float | None) -> str:
    parts = [f"uncalibrated {blind:.1%}" if blind is not None else None, f"in sample {fitted:.1%}" if fitted is not None else None,
             f"left out {loo:.1%}" if loo is not None else None]
    return f"{what} median |error|: " + ", ".join(p for p in parts if p)


def render_calibration(summary: dict[str, Any]) -> None:
    print(terminal(f"{'model':<24} {'dtype':<5} {'rt':<5} {'batch':>5} {'measured ms':>12} {'fitted ms':>10} "
                   f"{'uncal.':>8} {'fitted':>8} {'left out':>8}"))
    for row in summary["fitted_on"]:
        e = "" if row["energy_error"] is None else f"  energy {row['energy_error']:+.1%}"
        print(terminal(f"{row['model']:<24} {row['dtype']:<5} {row['runtime']:<5} {row['batch']:>5} "
                       f"{row['measured_s'] * 1e3:12.4g} {row['predicted_s'] * 1e3:10.4g} {_pct(row.get('blind_error'))} "
                       f"{_pct(row['error'])} {_pct(row.get('loo_error'))}{e}"))
    se = summary.get("relative_stderr", {})
    for k, v in summary["values"].items():
        print(terminal(f"  {k} = {v:.4g}" + (f"  ({spread(se[k])})" if k in se else "")))
    why: dict[str, list[str]] = {}
    for k, w in summary.get("not_fitted", {}).items():
        why.setdefault(w, []).append(k)
    for w, keys in why.items():
        print(terminal(f"  not fitted, {w}: {', '.join(keys)}"))
    for n in summary.get("notes", []):
        print(terminal(f"note: {n}"))
    print(terminal(_median_line("latency", summary.get("blind_median_abs_error"), summary["median_abs_error"],
                                summary.get("loo_median_abs_error")) + f"; p90 in sample {summary['p90_abs_error']:.1%}"))
    if summary["energy_median_abs_error"] is not None:
        print(terminal(_median_line("energy", summary.get("energy_blind_median_abs_error"), summary["energy_median_abs_error"],
                                    summary.get("energy_loo_median_abs_error"))))
    print(terminal(f"wrote profile '{summary.get('name', '')}' (measured on {summary.get('measured_on', 'n/a')}) to {summary['profile']}"))


def render_training_calibration(summary: dict[str, Any], said: str) -> None:
    v = summary["values"]
    print(terminal(f"autograd host {v['autograd_host_s'] * 1e6:.3g} us per backward operator, backward matrix kernels "
                   f"x{v['backward_slowdown']:.3g}; {said}"))
    power = summary.get("power")
    if power is None:
        print(terminal(f"note: {summary['power_note']}"))
    else:
        for k, x in power["values"].items():
            print(terminal(f"  {k} = {x:.4g}  ({spread(power['log_stderr'][k])})"))
        for n in power["notes"]:
            print(terminal(f"note: {n}"))
        print(terminal(_median_line("energy", power["energy_blind_median_abs_error"], power["energy_median_abs_error"],
                                    power["energy_loo_median_abs_error"])))
    print(terminal(f"wrote profile '{summary['name']}' (measured on {summary['measured_on']}) to {summary['profile']}"))
