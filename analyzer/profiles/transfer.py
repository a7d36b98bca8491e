"""A GPU that was never measured gets what was learned on a measured one: hardware transfer (issue #25).

A calibrated profile holds two kinds of numbers. Kernel efficiency curves (each class's fraction of the peak its
unit reaches, its tile depth and floor), the host's cost of issuing an operator and the gaps between kernels
belong to the architecture family and the libraries (cuDNN, cuBLAS, PyTorch): they carry over to the family's
other parts. Memory bandwidth, peak throughput, SM count, L2 size, memory size and power limits belong to the part,
and come from its datasheet. `transferred` applies these rules to a profile whose [projection] has nothing
measured or calibrated, from the most recent calibrated profile of its family (one step away), else from the most
recent calibrated GPU of another family (two steps: curves of another generation's kernels):

- efficiency_*, kdepth_*, t0_*, 2:4 speedup: copied (fractions of the part's own peaks, times of one kernel; a
  part's clocks are not in its datasheet profile, so the floors are the donor's);
- host_*, gaps, launch costs and the autograd engine's cost: the host's, not the GPU's (its CPU and framework,
  `HardwareProfile.host`). They are copied from the donor's host, and the provenance says whose: the donor's `host`,
  and, where the part states a host of its own that differs, that they were not rescaled to it (a host profile
  of their own is not modelled);
- fill_*: scaled by resident threads (SMs x threads per SM): a larger chip needs more outputs to fill;
- memory_efficiency_*: the donor's bandwidth split at its streaming ceiling (a large copy). What a class reaches
  up to that ceiling streams from memory and scales with the part's memory; what it reaches beyond it is served
  from the L2 cache, whose bandwidth scales with the SMs feeding it, not with the memory;
- achievable ceilings (GEMM throughput per dtype, streaming bandwidth): the donor's fraction of its peaks;
- power: static power scaled by idle power, the power of running kernels by TDP; in one family (one die, one
  process) the energy per FLOP and per byte are the donor's, so a part with a lower power limit than its peaks
  need (a PCIe card of an SXM die) projects power-capped, as it runs. Across families they are derived from the
  part's own powers, as for a datasheet profile.

Every transferred value is `kind = "transferred"` and names its donor and rule. The loader records the transfer
(`HardwareProfile.transfer`): the projection's band adds energy_log_sigma_transfer_step per step to its shared
(systematic) part, and says where each number came from.
"""

from __future__ import annotations

import math
from dataclasses import replace

from .schema import HardwareProfile, Sourced

TRANSFER_CATEGORIES = ("gpu",)  # CPUs differ in what ONNX Runtime runs; TPUs have no measured part here
_COPIED_PREFIXES = ("efficiency_", "kdepth_", "t0_")
_COPIED = ("sparse_2_4_speedup", "flop_energy_scale")
HOST_KEYS = ("gap_s", "forward_s", "graph_gap_s", "graph_launch_s")  # with host_*: the host's CPU and framework


def is_host_key(key: str) -> bool:
    """A host or launch cost (the host CPU's and framework's, not the GPU's)."""
    return key.startswith("host_") or key in HOST_KEYS


def host_rule(hw: HardwareProfile, donor: HardwareProfile) -> str:
    """Where a transferred host cost comes from: the donor's host, and whether the part states another."""
    rule = (f"the host's cost as fitted on {donor.name}'s host ({donor.host or 'its host not stated'}): host and launch "
            "costs belong to the host CPU and framework, not the GPU")
    if hw.host and hw.host != donor.host:
        rule += f"; this part's host ({hw.host}) differs, not rescaled to it"
    return rule
_SAME_FAMILY_ONLY = ("energy_per_byte_pj",)  # the memory technology and process: the die's own


def is_measured(hw: HardwareProfile) -> bool:
    """The profile's projection was fitted on (or measured on) this part."""
    return any(s.kind in ("calibrated", "measured") for s in hw.projection.values())


def donor_for(hw: HardwareProfile, profiles: list[HardwareProfile]) -> tuple[HardwareProfile, int] | None:
    """The calibrated profile `hw` learns from and the steps between them (1: same family, 2: another); None
    when `hw` is measured itself, opts out, is not a GPU, or no GPU was measured."""
    if hw.category not in TRANSFER_CATEGORIES or not hw.transferable or is_measured(hw):
        return None
    donors = [p for p in profiles if p.category == hw.category and p.name != hw.name and is_measured(p) and p.calibration]
    if not donors:
        return None

    def recency(p: HardwareProfile) -> tuple[str, str]:
        return str(p.calibration.get("date", "")), p.name

    same = [p for p in donors if hw.family and p.family == hw.family]
    if same:
        return max(same, key=recency), 1
    return max(donors, key=recency), 2


def _resident(hw: HardwareProfile) -> float | None:
    if hw.sm_count is None or hw.max_threads_per_sm is None:
        return None
    return hw.sm_count.value * hw.max_threads_per_sm.value


def _streaming_fraction(hw: HardwareProfile, layout_efficiency: float) -> float:
    """Streaming bandwidth (a large copy) over datasheet bandwidth: measured where the profile has it."""
    if hw.achievable_memory_bandwidth_gbps is not None and hw.memory_bandwidth_gbps is not None:
        return hw.achievable_memory_bandwidth_gbps.value / hw.memory_bandwidth_gbps.value
    return min(layout_efficiency, 1.0)


def memory_efficiency(e_donor: float, donor: HardwareProfile, hw: HardwareProfile, stream_frac: float,
                      l2_scale: float) -> float:
    """A class's bandwidth (fraction of datasheet) on `hw` from the donor's: the part up to the donor's streaming
    ceiling scales with memory bandwidth, the part beyond it (L2-resident) with the SMs (`l2_scale`)."""
    bw_d, bw_t = donor.memory_bandwidth_gbps.value, hw.memory_bandwidth_gbps.value  # type: ignore[union-attr]
    reached = e_donor * bw_d
    ceiling = stream_frac * bw_d
    streamed = min(reached, ceiling) / ceiling * (stream_frac * bw_t)
    cached = max(reached - ceiling, 0.0) * l2_scale
    return min(max((streamed + cached) / bw_t, 1e-3), 10.0)


def transferred(hw: HardwareProfile, donor: HardwareProfile, steps: int, sigma_step: float,
                layout_default: float) -> HardwareProfile:
    """`hw` with the donor's family-level parameters carried over (module docstring). `layout_default`: the
    category's layout-class bandwidth, for a donor whose profile does not state its streaming ceiling."""
    kin = f"{donor.family} family" if steps == 1 else f"{donor.family or 'unknown'} to {hw.family or 'unknown'} family"
    tag = f"transferred from {donor.name} ({kin}, {steps} step{'s' if steps > 1 else ''} away)"

    def sourced(value: float, rule: str, like: Sourced) -> Sourced:
        return Sourced(float(value), f"{tag}: {rule}", like.year, "transferred")

    out: dict[str, Sourced] = dict(hw.projection)  # estimated entries the part states keep precedence
    res_d, res_t = _resident(donor), _resident(hw)
    fill_scale = res_t / res_d if res_d and res_t else 1.0
    sm_scale = (hw.sm_count.value / donor.sm_count.value) if hw.sm_count and donor.sm_count else 1.0
    layout_e = donor.projection["memory_efficiency_layout"].value if "memory_efficiency_layout" in donor.projection \
        else layout_default
    stream_frac = _streaming_fraction(donor, layout_e)
    hosted = host_rule(hw, donor)
    for key, s in donor.projection.items():
        if key in out:
            continue
        if is_host_key(key):
            out[key] = sourced(s.value, hosted, s)
        elif key.startswith(_COPIED_PREFIXES) or key in _COPIED:
            out[key] = sourced(s.value, "the family's kernel curve / host cost, as fitted", s)
        elif key.startswith("fill_"):
            out[key] = sourced(s.value * fill_scale, f"x {fill_scale:.3g}, the ratio of resident threads", s)
        elif key.startswith("memory_efficiency_") and hw.memory_bandwidth_gbps and donor.memory_bandwidth_gbps:
            out[key] = sourced(memory_efficiency(s.value, donor, hw, stream_frac, sm_scale),
                               "streamed part scaled with memory bandwidth, L2-resident part with SMs", s)
        elif key == "static_power_w" and hw.idle_w and donor.idle_w and donor.idle_w.value > 0:
            out[key] = sourced(s.value * hw.idle_w.value / donor.idle_w.value, "x the ratio of idle powers", s)
        elif key == "active_power_w" and hw.tdp_w and donor.tdp_w:
            out[key] = sourced(s.value * hw.tdp_w.value / donor.tdp_w.value, "x the ratio of TDPs", s)
        elif key in _SAME_FAMILY_ONLY and steps == 1:
            out[key] = sourced(s.value, "the die's energy per byte", s)
    changes: dict = {"projection": out}
    if not hw.achievable_tflops and donor.achievable_tflops:
        changes["achievable_tflops"] = {
            dt: sourced(hw.peak_tflops[dt].value * a.value / donor.peak_tflops[dt].value,
                        f"{a.value / donor.peak_tflops[dt].value:.3f} of the peak, as measured on the donor", a)
            for dt, a in donor.achievable_tflops.items() if dt in hw.peak_tflops and dt in donor.peak_tflops}
    if hw.achievable_memory_bandwidth_gbps is None and donor.achievable_memory_bandwidth_gbps and hw.memory_bandwidth_gbps:
        changes["achievable_memory_bandwidth_gbps"] = sourced(
            stream_frac * hw.memory_bandwidth_gbps.value, f"{stream_frac:.3f} of the datasheet bandwidth, as measured "
            "on the donor", donor.achievable_memory_bandwidth_gbps)
    busy = _busy_power(hw, donor, out, steps)
    if busy is not None:
        changes["busy_power_w"] = sourced(busy, "the donor's energy per FLOP at this part's peak, with its static and "
                                          "active power", donor.busy_power_w)  # type: ignore[arg-type]
    if not hw.training and donor.training:
        changes["training"] = {k: sourced(s.value, hosted if k == "autograd_host_s" else "the backward's kernel slowdown, as fitted", s)
                               for k, s in donor.training.items()}
    if not hw.host and donor.host:
        changes["host"] = donor.host
    cal = donor.calibration
    changes["transfer"] = {"from": donor.name, "family": donor.family, "steps": steps, "sigma_step": sigma_step,
                           "host": donor.host, "own_host": hw.host,
                           "energy_log_sigma_model": float(cal.get("energy_log_sigma_model", 0.0)),
                           "energy_log_sigma_shared": float(cal.get("energy_log_sigma_shared", 0.0)),
                           "energy_log_sigma_host": float(cal.get("energy_log_sigma_host", 0.0)),
                           "energy_log_sigma_host_session": float(cal.get("energy_log_sigma_host_session", 0.0))}
    return replace(hw, **changes)


def _busy_power(hw: HardwareProfile, donor: HardwareProfile, projection: dict[str, Sourced], steps: int) -> float | None:
    """Board power in a large GEMM on `hw`, from the donor's energy per FLOP (same family only: one die, one
    process) at the part's 16-bit peak: above the part's TDP, the projection's power cap slows it as it runs."""
    if steps != 1 or hw.busy_power_w is not None or donor.busy_power_w is None:
        return None
    ref = next((d for d in ("bf16", "fp16") if d in hw.peak_tflops and d in donor.peak_tflops), None)
    if ref is None or "static_power_w" not in donor.projection:
        return None
    d_static = donor.projection["static_power_w"].value
    d_active = donor.projection["active_power_w"].value if "active_power_w" in donor.projection else 0.0
    dynamic = max(donor.busy_power_w.value - d_static - d_active, 0.0)
    t_static = projection["static_power_w"].value if "static_power_w" in projection else (hw.idle_w.value if hw.idle_w else 0.0)
    t_active = projection["active_power_w"].value if "active_power_w" in projection else 0.0
    busy = t_static + t_active + dynamic * hw.peak_tflops[ref].value / donor.peak_tflops[ref].value
    return busy if math.isfinite(busy) else None


def with_transfers(hardware: dict[str, HardwareProfile], sigma_step: float, layout_default: float) -> dict[str, HardwareProfile]:
    """Every profile that can learn from a measured part, transferred (module docstring); the others as they are."""
    profiles = list(hardware.values())
    out = {}
    for name, hw in hardware.items():
        found = donor_for(hw, profiles)
        out[name] = transferred(hw, found[0], found[1], sigma_step, layout_default) if found else hw
    return out


def transfer_note(hw: HardwareProfile) -> str:
    """What a projection on a transferred profile says about where its numbers came from."""
    t = hw.transfer
    same = t["steps"] == 1
    own = sorted(k for k, s in hw.projection.items() if s.kind != "transferred" and "family default" in s.source)
    fam = f" except {', '.join(own)}, its own family's (profiles/families.toml)" if own else ""
    host = t.get("host") or "not stated"
    own_host = t.get("own_host") or ""
    hosted = (f"; host and launch costs are those of {t['from']}'s host ({host}), not this GPU's"
              + (f" nor its stated host's ({own_host})" if own_host and own_host != t.get("host") else ""))
    return (f"{hw.name} was never measured: kernel efficiency curves{' and energy per FLOP and byte' if same else ''} "
            f"transferred from {t['from']} ({'same family, ' + t['family'] if same else 'another family'}){fam}{hosted}; bandwidth, peaks, "
            f"SMs and power limit from its datasheet; the band adds a log-error of {t['sigma_step']:g} per step away "
            f"({t['steps']}). `nas-analyzer calibrate` on up to 5 measured models replaces the transfer with measurement")
