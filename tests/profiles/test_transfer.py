"""Hardware transfer (issue #25): a GPU never measured learns its kernel curves, host costs and (in its family)
energy per FLOP from a measured one; bandwidth, peaks, SMs and power limits stay its own; the band widens per step."""

import math
from pathlib import Path

import pytest

from analyzer import profile_onnx
from analyzer.errors import ProfileError
from analyzer.profiles import load_profiles, projection_defaults
from analyzer.project import project, resolve_params

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ps():
    return load_profiles()


def test_which_profiles_learn_from_which(ps):
    steps = {n: (h.transfer.get("from"), h.transfer.get("steps")) for n, h in ps.hardware.items()}
    assert steps["h200"] == ("h100-sxm-calibrated", 1)  # same GH100 die: one step
    for other in ("a100-40gb", "a100-80gb", "l4", "l40s", "t4", "v100", "b200"):
        assert steps[other] == ("h100-sxm-calibrated", 2), other  # another family: two steps
    for kept in ("h100-sxm", "h100-sxm-calibrated", "tpu-v4", "xeon-8380", "ci-cpu-2vcpu"):
        assert not ps.hardware[kept].transfer, kept  # the datasheet reference, the donor itself, not a GPU


def test_part_level_values_stay_the_parts(ps):
    h200, h100 = ps.get("hardware", "h200"), ps.get("hardware", "h100")
    assert h200.memory_bandwidth_gbps.value == 4800 and h200.memory_bandwidth_gbps.kind == "datasheet"
    assert h200.projection["efficiency_conv"].value == h100.projection["efficiency_conv"].value
    assert h200.projection["efficiency_conv"].kind == "transferred"
    assert "h100-sxm-calibrated" in h200.projection["efficiency_conv"].source
    # streaming ceiling: the donor's measured fraction of its datasheet bandwidth (3020 / 3350)
    assert h200.achievable_memory_bandwidth_gbps.value == pytest.approx(4800 * 3020 / 3350)
    assert h200.achievable_tflops["bf16"].value == pytest.approx(989.4 * 676 / 989.4)


def test_bandwidth_splits_at_the_streaming_ceiling(ps):
    """Up to the donor's streaming ceiling a class streams from memory (scales with bandwidth); beyond it the
    L2 serves it (scales with SMs): H100 elementwise 1.14975 x 3350 GB/s = 3851.7 GB/s, of which 3020 streamed."""
    h100, h200 = ps.get("hardware", "h100"), ps.get("hardware", "h200")
    e = h100.projection["memory_efficiency_elementwise"].value
    reached = e * 3350
    expected = ((3020 / 3350) * 4800 + (reached - 3020) * 132 / 132) / 4800
    assert h200.projection["memory_efficiency_elementwise"].value == pytest.approx(expected)
    assert 1.0 < expected < e  # faster memory, same L2: the cached share of the bandwidth shrinks
    below = h100.projection["memory_efficiency_conv"].value  # under the ceiling: a fraction of bandwidth, unchanged
    assert h200.projection["memory_efficiency_conv"].value == pytest.approx(below)


def test_fill_scales_with_resident_threads(ps):
    h100, l40s = ps.get("hardware", "h100"), ps.get("hardware", "l40s")
    ratio = (142 * 1536) / (132 * 2048)
    assert l40s.projection["fill_conv"].value == pytest.approx(h100.projection["fill_conv"].value * ratio)


def test_band_widens_with_each_step(ps):
    d = projection_defaults()
    step = d["gpu"]["energy_log_sigma_transfer_step"].value
    donor = ps.get("hardware", "h100").calibration
    p200 = resolve_params(ps.get("hardware", "h200"), "fp16", "graph", d)
    p100 = resolve_params(ps.get("hardware", "a100-80gb"), "fp16", "graph", d)
    assert p200.basis == p100.basis == "transferred"
    assert p200.energy_log_sigma_shared == pytest.approx(math.hypot(donor["energy_log_sigma_shared"], step))
    # another family: no narrower than a datasheet profile's band (the category defaults are the donor's curves)
    assert p100.energy_log_sigma_shared == pytest.approx(max(math.hypot(donor["energy_log_sigma_shared"], math.sqrt(2) * step),
                                                             d["gpu"]["energy_log_sigma_shared_datasheet"].value))
    assert p100.energy_log_sigma_model == pytest.approx(d["gpu"]["energy_log_sigma_model_datasheet"].value)
    assert p200.energy_log_sigma_model == pytest.approx(donor["energy_log_sigma_model"])
    measured = resolve_params(ps.get("hardware", "h100"), "fp16", "graph", d)
    assert measured.energy_log_sigma_shared < p200.energy_log_sigma_shared < p100.energy_log_sigma_shared


def _write(folder: Path, name: str, text: str) -> None:
    (folder / "hardware").mkdir(parents=True, exist_ok=True)
    (folder / "hardware" / f"{name}.toml").write_text(text)


def _part(name: str, family: str, tdp: float, bf16: float, bw: float, sms: int, extra: str = "") -> str:
    src = 'source = "test part", year = 2024, kind = "datasheet"'
    return (f'name = "{name}"\ntitle = "{name}"\ncategory = "gpu"\nfamily = "{family}"\nembodied_method = "per card"\n'
            f'memory_bandwidth_gbps = {{ value = {bw}, {src} }}\ntdp_w = {{ value = {tdp}, {src} }}\n'
            f'idle_w = {{ value = {tdp * 123 / 700:.1f}, {src} }}\nsm_count = {{ value = {sms}, {src} }}\n'
            f'max_threads_per_sm = {{ value = 2048, {src} }}\nl2_cache_mb = {{ value = 50, {src} }}\n'
            f'embodied_co2e_kg = {{ value = 10, {src} }}\nlifetime_years = {{ value = 5, {src} }}\n{extra}'
            f'[peak_tflops]\nfp32 = {{ value = 51, {src} }}\ntf32 = {{ value = {bf16 / 2}, {src} }}\n'
            f'fp16 = {{ value = {bf16}, {src} }}\nbf16 = {{ value = {bf16}, {src} }}\n')


def test_a_power_limited_part_of_the_family_projects_power_capped(tmp_path, ps):
    """A PCIe card of the H100 die (350 W, lower peaks): the die's energy per FLOP at its peaks needs more than its
    power limit, so compute-bound forwards run at the cap, as the board lowers its clocks."""
    _write(tmp_path, "hopper-pcie", _part("hopper-pcie", "hopper", 350, 756, 2000, 114))
    part = load_profiles((tmp_path,)).get("hardware", "hopper-pcie")
    assert part.transfer["steps"] == 1 and part.busy_power_w.kind == "transferred"
    assert part.busy_power_w.value > part.tdp_w.value  # the die would draw more than the board may
    prof = profile_onnx(ROOT / "models" / "onnx" / "resnet18.onnx" if (ROOT / "models" / "onnx" / "resnet18.onnx").exists()
                        else ROOT / "models" / "resnet18.onnx", batch=256, per_op=True, scan_sparsity=False)
    d = projection_defaults()
    p = project(prof, part, resolve_params(part, "fp16", "graph", d), "graph", "fp16")
    assert p.energy_j_per_item * 256 / p.latency_s == pytest.approx(350, rel=1e-6)  # at the cap
    assert any("never measured" in n and "h100-sxm-calibrated" in n for n in p.notes)


def test_a_users_calibration_becomes_the_familys_donor(tmp_path, ps):
    a100 = ps.get("hardware", "a100-80gb")
    cal = ('[projection]\nefficiency_conv = { value = 0.5, source = "fitted", year = 2026, kind = "calibrated" }\n'
           '[calibration]\ndate = "2026-12-01"\nenergy_log_sigma_model = 0.1\nenergy_log_sigma_shared = 0.1\n')
    _write(tmp_path, "a100-mine", _part("a100-mine", "ampere", 400, 312, 2039, 108) + cal)
    mine = load_profiles((tmp_path,))
    assert mine.get("hardware", "a100-80gb").transfer["from"] == "a100-mine"
    assert mine.get("hardware", "a100-80gb").transfer["steps"] == 1
    assert mine.get("hardware", "a100-80gb").projection["efficiency_conv"].value == 0.5
    assert a100.transfer["from"] == "h100-sxm-calibrated"  # the shipped set is unchanged


@pytest.mark.parametrize("line, needle", [('family = "kepler"\n', "family"), ("transfer = 1\n", "transfer")])
def test_bad_family_or_transfer_flag_is_refused(tmp_path, line, needle):
    _write(tmp_path, "bad", _part("bad", "hopper", 350, 756, 2000, 114).replace('family = "hopper"\n', line))
    with pytest.raises(ProfileError, match=needle):
        load_profiles((tmp_path,))
