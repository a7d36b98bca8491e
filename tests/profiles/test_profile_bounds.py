"""Every shipped hardware profile's projection values lie inside the bounds a calibration keeps them in
(analyzer/project/calibrate_bounds.py): efficiencies at most 1 of the unit's peak, memory efficiencies at most the
DRAM bandwidth unless the part states an on-chip cache (then the schema's range: cache-resident kernels), floors and
host costs above their minimum, powers between idle/2 and the limit x 1.1, energy per byte 0.1-1000 pJ."""

from pathlib import Path

import pytest

from analyzer.profiles import PROJECTION_KEYS, load_profiles, projection_defaults
from analyzer.profiles.loader import read_profile
from analyzer.project.calibrate_bounds import MAX_POWER_SHARE, PJ_PER_BYTE, key_bounds, power_limit_w

_PS = load_profiles()
_SHIPPED = sorted(_PS.hardware)


def out_of_bounds(hw) -> list[str]:
    """Each value of hw.projection outside its calibration bound, as 'key value not in [lo, hi]'."""
    bad = []
    limit = power_limit_w(hw)
    idle = hw.idle_w.value if hw.idle_w is not None else 0.0
    for key, s in hw.projection.items():
        if key in ("static_power_w", "active_power_w"):
            lo, hi = (idle / 2 if key == "static_power_w" else 1e-3 * limit), MAX_POWER_SHARE * limit
        elif key == "energy_per_byte_pj":
            lo, hi = PJ_PER_BYTE
        elif key.startswith("efficiency_simt_"):  # a class's efficiency on the FP32 FMA path
            lo, hi, _ = key_bounds(key.replace("simt_", ""), hw)
        elif key in PROJECTION_KEYS:
            lo, hi, _ = key_bounds(key, hw, cache_resident=hw.l2_cache_mb is not None)
        else:
            continue
        if not lo <= s.value <= hi:
            bad.append(f"{key} {s.value:g} not in [{lo:g}, {hi:g}]")
    if {"static_power_w", "active_power_w"} <= set(hw.projection):
        total = hw.projection["static_power_w"].value + hw.projection["active_power_w"].value
        if total > MAX_POWER_SHARE * limit:
            bad.append(f"static + active {total:g} W above the limit x {MAX_POWER_SHARE}")
    return bad


@pytest.mark.parametrize("name", _SHIPPED)
def test_shipped_profile_values_lie_within_the_calibration_bounds(name):
    assert out_of_bounds(_PS.hardware[name]) == []


def test_default_efficiencies_are_fractions_of_a_peak():
    for category, values in projection_defaults().items():
        for key, s in values.items():
            if key.startswith("efficiency_"):
                assert 0 < s.value <= 1, (category, key, s.value)


def test_the_check_catches_the_unbounded_fit_it_replaced(tmp_path):
    """The CI CPU profile as the unbounded fit wrote it (efficiency_attention 1.5, depthwise 1.06, memory efficiencies
    1.75x DRAM on a part stating no cache) fails the check; the refitted shipped one passes."""
    text = (Path(__file__).resolve().parents[2] / "profiles" / "hardware" / "ci-cpu-2vcpu.toml").read_text()
    text = text.replace('name = "ci-cpu-2vcpu"', 'name = "old-fit"').replace('aliases = ["ci", "ci-cpu"]', "")
    text = "\n".join(line for line in text.splitlines() if not line.startswith("l2_cache_mb"))
    src = 'source = "calibrated", year = 2026, kind = "calibrated"'
    text += ("\n[projection]\n" + f"efficiency_attention = {{ value = 1.5, {src} }}\n"
             f"efficiency_depthwise = {{ value = 1.06367, {src} }}\nmemory_efficiency_conv = {{ value = 1.74997, {src} }}\n")
    path = tmp_path / "old-fit.toml"
    path.write_text(text)
    bad = out_of_bounds(read_profile(path, "hardware"))
    assert [b.split()[0] for b in bad] == ["efficiency_attention", "efficiency_depthwise", "memory_efficiency_conv"]
    assert out_of_bounds(_PS.hardware["ci-cpu-2vcpu-ort-calibrated"]) == []
    assert _PS.hardware["ci-cpu-2vcpu-ort-calibrated"].calibration["measured_on"].startswith("CI machine: 2 vCPUs of an Intel Xeon")
