"""The calibration fit that cannot lie: closed-form recovery with standard errors, bounds held against garbage, only
identified parameters freed, every measured kernel class fitted, leave-one-out printed and enforced, each hostile input
refused with one line and nothing written, and the profile's name, device and path as the issue asks (#34)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper

from analyzer import profile_onnx
from analyzer.errors import UsageError
from analyzer.profiles import load_profiles, projection_defaults
from analyzer.project import project, resolve_params
from analyzer.project.calibrate import Calibration, CalibrationRefused, Observation, _loo_check, calibrate
from analyzer.project.fit import Bounded, fit_bounded, identifiable
from cli_helpers import cli
from onnx_builders import init, model, vi

CPU = "ci-cpu-2vcpu"


# ---- the solver ----------------------------------------------------------------------------------------------


def test_a_closed_form_fit_recovers_its_parameter_within_its_standard_error():
    """ln y_i = ln a + ln x_i + e_i, e_i ~ N(0, s): the least-squares ln a is the mean of ln(y/x), with standard error
    s / sqrt(n) (times the reduced chi-square's root where it exceeds 1, as curve_fit does). 100 draws."""
    x = np.geomspace(1.0, 100.0, 40)
    s = 0.05
    within = []
    for seed in range(100):
        y = 3.0 * x * np.exp(np.random.default_rng(seed).normal(0.0, s, x.size))
        res = fit_bounded(lambda v: v["a"] * x, y, np.full(x.size, s), [Bounded("a", 1.0, 1e-3, 1e3, prior_log_sigma=10.0)])
        assert res.values["a"] == pytest.approx(float(np.exp(np.mean(np.log(y / x)))), rel=2e-3)
        # the robust loss flattens the Jacobian of points beyond its knee: the error is the closed form's or a little more
        closed_se = s / math.sqrt(x.size) * math.sqrt(max(res.chi2_reduced, 1.0))
        assert closed_se * 0.99 <= res.log_stderr["a"] <= closed_se * 1.12
        assert not res.at_bound
        within.append(abs(math.log(res.values["a"] / 3.0)) / res.log_stderr["a"])
    # the standard error means what it says: about 68% of fits within one of the truth, about 95% within two
    assert 0.6 <= np.mean(np.array(within) <= 1) <= 0.85 and np.mean(np.array(within) <= 2) >= 0.9


def test_a_bounded_fit_fed_garbage_stays_in_its_bounds_and_says_so():
    rng = np.random.default_rng(3)
    x = np.arange(1.0, 9.0)
    garbage = 10 ** rng.uniform(-9, 9, x.size)
    params = [Bounded("eff", 0.5, 1e-4, 1.0), Bounded("t0", 1e-6, 5e-8, 1e-3)]
    res = fit_bounded(lambda v: x * 1e-3 / v["eff"] + v["t0"], garbage, np.full(x.size, 0.05), params)
    for p in params:
        assert p.lo <= res.values[p.name] <= p.hi
    far = fit_bounded(lambda v: x * 1e-3 / v["eff"], x * 1e-3 / 50.0, np.full(x.size, 0.05), params[:1])  # wants eff 50
    assert far.values["eff"] <= 1.0 and far.at_bound == {"eff": "upper"}


def test_only_what_the_measurements_identify_is_freed():
    s = np.array([[5.0, 5.0, 0.0, 3.0], [4.0, 4.0, 0.0, -3.0], [6.0, 6.0, 0.0, 1.0]])  # columns 0 and 1 collinear, 2 unused
    free = identifiable(s, max_free=2)
    assert len(free) == 2 and 2 not in free and not {0, 1} <= set(free)
    assert identifiable(s, max_free=0) == [] and len(identifiable(s, max_free=1)) == 1
    assert identifiable(np.full((3, 1), 0.5), max_free=2) == []  # pinned less tightly than the prior does


# ---- the calibration on synthetic forwards ---------------------------------------------------------------------


def _models(tmp_path: Path) -> dict[str, Path]:
    graphs = {
        "conv": ([helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])], [vi("x", ["N", 32, 32, 32])],
                 [init("w", np.ones((32, 32, 3, 3), np.float32))]),
        "pool": ([helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])],
                 [vi("x", ["N", 64, 64, 64])], []),
        "mixed": ([helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
                   helper.make_node("AveragePool", ["c"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])],
                  [vi("x", ["N", 16, 32, 32])], [init("w", np.ones((16, 16, 3, 3), np.float32))]),
        "gemm": ([helper.make_node("MatMul", ["a", "b"], ["y"])], [vi("a", ["N", 256, 256])], [init("b", np.ones((256, 256), np.float32))]),
    }
    out = {}
    for name, (nodes, inputs, inits) in graphs.items():
        out[name] = tmp_path / f"{name}.onnx"
        onnx.save(model(nodes, inputs, [vi(nodes[-1].output[0], None)], inits), str(out[name]))
    return out


def _observations(paths: dict[str, Path], hw, truth: dict[str, float], batches=(1, 8)) -> list[Observation]:
    params = resolve_params(hw, "fp32", "ort", projection_defaults(), overrides=truth)
    obs = []
    for name, path in paths.items():
        for b in batches:
            prof = profile_onnx(path, batch=b, per_op=True)
            p = project(prof, hw, params, "ort", "fp32")
            obs.append(Observation(name, prof.sha256, b, p.latency_s, prof, p.energy_j_per_item, "fp32", "ort"))
    return obs


@pytest.fixture(scope="module")
def cpu():
    return load_profiles().get("hardware", CPU)


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    return _models(tmp_path_factory.mktemp("cal"))


def test_the_pooling_class_is_fitted_and_recovered_within_its_standard_error(paths, cpu):
    """Pooling runs in the 'reduce' class, which the old fit never touched (NB201's avg-pool edges, #34): forwards made
    with a known reduce bandwidth and conv efficiency give them back, within their standard errors."""
    truth = {"memory_efficiency_reduce": 0.25, "efficiency_conv": 0.35, "static_power_w": 4.0, "active_power_w": 3.0}
    cal = calibrate(_observations(paths, cpu, truth), cpu, projection_defaults())
    for k in ("memory_efficiency_reduce", "efficiency_conv"):
        assert k in cal.fitted_keys, cal.not_fitted
        assert abs(math.log(cal.values[k] / truth[k])) <= max(cal.log_stderr[k], 0.01), (k, cal.values[k])
    assert cal.median_abs_error < 0.01 and cal.loo_median_abs_error < 0.02 < cal.blind_median_abs_error
    assert all(v <= 1.0 for k, v in cal.values.items() if k.startswith(("efficiency_", "memory_efficiency_")))
    assert "efficiency_layout" not in cal.fitted_keys  # no measured forward runs a layout kernel


def test_the_fit_refuses_when_left_out_forwards_project_worse_than_no_fit():
    cal = Calibration({}, [1.0], [0.0], 0.0, 0.0, blind_errors=[0.03, -0.03, 0.03], loo_errors=[0.2, -0.3, 0.25])
    with pytest.raises(CalibrationRefused, match="leave-one-out.*25.0%.*3.0%"):
        _loo_check(cal)
    _loo_check(Calibration({}, [1.0], [0.0], 0.0, 0.0, blind_errors=[0.5, 0.4, 0.6], loo_errors=[0.1, 0.05, 0.2]))


# ---- the command: hostile inputs, provenance, leave-one-out printed -------------------------------------------


def _csv(tmp_path: Path, paths: dict[str, Path], hw, truth: dict[str, float], extra_cols: str = "", edit=None) -> Path:
    obs = _observations(paths, hw, truth)
    rows = [f"model,batch,latency_s,energy_j_per_item{extra_cols}"]
    for i, o in enumerate(obs):
        lat, e = o.latency_s, o.energy_j_per_item
        if edit is not None:
            lat, e = edit(i, lat, e)
        rows.append(f"{paths[o.name]},{o.batch},{lat!r},{e!r}" + ("" if not extra_cols else ",Xeon 8592+ (2 vCPU slice)"))
    f = tmp_path / "m.csv"
    f.write_text("\n".join(rows) + "\n")
    return f


TRUTH = {"efficiency_conv": 0.4, "memory_efficiency_reduce": 0.3, "static_power_w": 4.0, "active_power_w": 3.0}


@pytest.mark.parametrize("edit, says", [
    (lambda i, lat, e: (-lat if i == 2 else lat, e), "latency and energy must be finite and > 0"),
    (lambda i, lat, e: (0.0 if i == 2 else lat, e), "latency and energy must be finite and > 0"),
    (lambda i, lat, e: (float("nan") if i == 2 else lat, e), "latency and energy must be finite and > 0"),
    (lambda i, lat, e: (lat, float("inf") if i == 1 else e), "latency and energy must be finite and > 0"),
    (lambda i, lat, e: (lat, -e if i == 1 else e), "latency and energy must be finite and > 0"),
    (lambda i, lat, e: (lat * 1000 if i == 3 else lat, e), "ms in a seconds column"),  # one row in ms
    (lambda i, lat, e: (lat, e * 1000 if i == 3 else e), "mJ read as J"),  # one row's energy in mJ
    (lambda i, lat, e: (lat, 1e300 if i == 0 else e), "above ci-cpu-2vcpu's limit 10.9 W"),
    (lambda i, lat, e: (lat * 1000, e), "a unit off"),  # the whole column in ms: every row 1000x the projection
    (lambda i, lat, e: (lat, e * 3 if i == 5 else e), "above ci-cpu-2vcpu's limit"),  # power over the part's limit
])
def test_each_hostile_input_is_refused_in_one_line_and_nothing_is_written(tmp_path, paths, cpu, edit, says):
    f = _csv(tmp_path, paths, cpu, {**TRUTH, "static_power_w": 7.0, "active_power_w": 2.5}, edit=edit)
    out = tmp_path / "p" / "mine.toml"
    r = cli("calibrate", "--hardware", CPU, "--csv", f, "--out", out)
    assert r.exit_code == 2 and says in r.stderr, r.output
    assert len(r.stderr.strip().splitlines()) == 1 and not out.exists() and not (tmp_path / "p").exists()


def test_inconsistent_unit_columns_are_refused(tmp_path, paths):
    f = tmp_path / "m.csv"
    f.write_text(f"model,batch,latency_s,latency_ms_median\n{paths['conv']},1,0.004,0.004\n")
    r = cli("calibrate", "--hardware", CPU, "--csv", f, "--out", tmp_path / "x.toml")
    assert r.exit_code == 2 and "disagree (inconsistent units?)" in r.stderr and not (tmp_path / "x.toml").exists()


def test_the_profile_is_named_after_out_records_the_device_measured_and_never_shadows_by_accident(tmp_path, paths, cpu):
    f = _csv(tmp_path, paths, cpu, TRUTH, extra_cols=",device")
    out = tmp_path / "profiles" / "hardware" / "my-box.toml"
    r = cli("calibrate", "--hardware", CPU, "--csv", f, "--out", out)
    assert r.exit_code == 0, r.output
    assert "left out" in r.stdout and "uncalibrated" in r.stdout  # leave-one-out printed beside the in-sample error
    assert f"wrote profile 'my-box' (measured on Xeon 8592+ (2 vCPU slice)) to {out}" in " ".join(r.stdout.split())
    hw = load_profiles((tmp_path / "profiles",)).get("hardware", "my-box")
    assert hw.calibration["measured_on"] == "Xeon 8592+ (2 vCPU slice)" and "AMD EPYC" not in out.read_text()
    assert hw.aliases == () and hw.calibration["relative_stderr"] and "loo_median_abs_error" in hw.calibration
    assert [p.name for p in out.parent.iterdir()] == ["my-box.toml"]  # the atomic write left no temporary file
    r = cli("calibrate", "--hardware", CPU, "--csv", f, "--out", out, "--device", "bench box", "--name", "box2",
            "--format", "json")
    res = json.loads(r.stdout)
    assert res["name"] == "box2" and res["measured_on"] == "bench box" and res["loo_median_abs_error"] is not None
    for args in (("--out", tmp_path / "x.toml", "--name", "ci-cpu-2vcpu"), ("--out", tmp_path / "x.toml", "--name", "CI"),
                 ("--out", tmp_path / "h100.toml")):  # each option once: a repeated one is refused
        r = cli("calibrate", "--hardware", CPU, "--csv", f, *args)
        assert r.exit_code == 2 and "is the shipped profile" in r.stderr and "--shadow" in r.stderr, args
    r = cli("calibrate", "--hardware", CPU, "--csv", f, "--out", tmp_path / "x.toml", "--name", "ci-cpu-2vcpu", "--shadow")
    assert r.exit_code == 0 and "wrote profile 'ci-cpu-2vcpu'" in r.stdout
    assert load_profiles().get("hardware", "ci").name == "ci-cpu-2vcpu"  # the shipped one untouched


def test_measurements_from_two_devices_are_not_fitted_as_one(tmp_path, paths, cpu):
    f = _csv(tmp_path, paths, cpu, TRUTH, extra_cols=",device")
    lines = f.read_text().splitlines()
    lines[1] = lines[1].replace("Xeon 8592+", "Other CPU")
    f.write_text("\n".join(lines) + "\n")
    r = cli("calibrate", "--hardware", CPU, "--csv", f, "--out", tmp_path / "x.toml")
    assert r.exit_code == 2 and "from 2 devices" in r.stderr


def test_a_measurement_store_names_the_device_it_ran_on():
    from analyzer.measure.record import Measurement
    from analyzer.project.observations import measured_device

    base = dict(model="m", sha256="", backend="onnxruntime", batch=1, threads=None, opt_level="all", runtime_version="",
                cpu_model="AMD EPYC 9654", session_creation_s=0.0, latency_s_median=1.0, latency_s_p10=1.0,
                latency_s_p90=1.0, latency_s_ci95=(1.0, 1.0), ci_rel=0.0, converged=True, iterations=1,
                warmup_iterations=0, throughput_per_s=1.0, energy_j_per_item=None, dynamic_energy_j_per_item=None,
                idle_power_w=None, avg_power_w=None, energy_source="")
    assert measured_device(Measurement(provider="CPUExecutionProvider", **base)) == "AMD EPYC 9654"
    assert measured_device(Measurement(provider="cuda:0 (NVIDIA L4)", **base)) == "NVIDIA L4"  # not the host's CPU
    assert "names no device" in measured_device(Measurement(provider="CUDAExecutionProvider", **base))
    with pytest.raises(UsageError):
        from analyzer.decide.calibration import measured_on

        measured_on(["a", "b"], None)


def test_a_forward_measured_with_a_wide_spread_weighs_less(paths, cpu):
    """Each forward's sigma is its between-process spread (measure --processes) with the model floor: a forward 40% off
    that carries a spread of 1.0 (log) pulls the fit less than the same forward stated as exact."""
    from dataclasses import replace

    obs = _observations(paths, cpu, TRUTH)
    obs[0] = replace(obs[0], latency_s=obs[0].latency_s * 1.4)
    others = lambda cal: float(np.median(np.abs(cal.errors[1:])))  # noqa: E731
    tight = calibrate(obs, cpu, projection_defaults(), check=False)
    obs[0] = replace(obs[0], latency_log_sigma=1.0)
    loose = calibrate(obs, cpu, projection_defaults(), check=False)
    assert others(loose) < others(tight) * 0.5


@pytest.mark.slow
def test_training_steps_fit_the_powers_within_their_standard_error():
    """`calibrate --phase train` fits power from measured step energy (it never did, #34): steps generated with known
    powers give them back within their standard errors, and the left-out error is printed beside the in-sample one."""
    from analyzer.project.calibrate_train import fit_training_power
    from analyzer.project.training import TrainingParams, TrainingSample, project_training

    root = Path(__file__).resolve().parents[2]
    hw = load_profiles().get("hardware", "h100")
    d = projection_defaults()
    truth = {"static_power_w": 150.0, "active_power_w": 120.0, "energy_per_byte_pj": 60.0}
    samples = []
    for name in ("resnet18", "mobilenet_v2"):
        for precision, batch in (("fp32", 2), ("fp32", 64), ("bf16", 2), ("bf16", 64)):
            prof = profile_onnx(root / "models" / f"{name}.onnx", batch=batch, per_op=True)
            st = project_training(prof, resolve_params(hw, precision, "eager", d, overrides=truth), precision, "sgd-momentum",
                                  True, TrainingParams())
            samples.append(TrainingSample(prof, precision, "sgd-momentum", st.step_s, st.energy_j_per_sample))
    out = fit_training_power(samples, hw, "eager", d, TrainingParams())
    assert set(out["values"]) == set(truth)
    for k, v in out["values"].items():
        assert abs(math.log(v / truth[k])) <= out["log_stderr"][k], k
    assert out["energy_loo_median_abs_error"] < 0.02 < out["energy_blind_median_abs_error"]
    assert fit_training_power(samples[:2], hw, "eager", d, TrainingParams()) is None  # too few: not fitted, said by the CLI
