"""The tracker in Optuna and Ray Tune (issue #37): real libraries, one span per trial with its parameters."""

import time

import pytest

import analyzer
from analyzer import SiteRequest, TrackHooks
from analyzer.measure.meters import ReplayMeter
from conftest import require_extra


def _optuna():
    """optuna, or a skip said loudly at the end; CI's second phase installs the extra and requires it."""
    return require_extra("optuna", "NAS_ANALYZER_REQUIRE_OPTUNA", "the tracker's Optuna callback was NOT tested: optuna is "
                         "not installed (pip install -e '.[optuna]')")


def ten_watts():
    t0 = time.time() - 1.0
    return ReplayMeter([(t0, 0.0), (t0 + 1e6, 1e7)], clock=time.time)  # 10 W on the wall clock


@pytest.mark.extras
def test_optuna_callback_records_one_span_per_trial_with_its_params(tmp_path):
    optuna = _optuna()
    from analyzer.engine.track_integrations import OptunaSpans

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial):
        x = trial.suggest_float("x", -2.0, 2.0)
        trial.suggest_categorical("op", ["conv3x3", "skip"])
        time.sleep(0.05)
        return x * x

    with analyzer.track("optuna-search", hooks=TrackHooks(meters={"cpu": ten_watts()}, interval_s=0.02), store=False,
                        log=tmp_path / "o.jsonl", site=SiteRequest(pue=1.0, grid=100.0)) as run:
        study = optuna.create_study(study_name="s1", sampler=optuna.samplers.RandomSampler(seed=0))
        study.optimize(objective, n_trials=3, callbacks=[OptunaSpans(run)])
    r = run.result
    assert [s["name"] for s in r.spans] == ["trial 0", "trial 1", "trial 2"]
    for s, t in zip(r.spans, study.trials):
        assert s["params"]["param.x"] == pytest.approx(t.params["x"]) and s["params"]["value"] == pytest.approx(t.value)
        assert s["identity"] == f"op={t.params['op']!r},x={t.params['x']!r}" and s["status"] == "complete"
        assert s["energy_j"] == pytest.approx(10.0 * s["seconds"], rel=0.02)  # 10 W over the trial's time
    assert sum(s["energy_j"] for s in r.spans) + r.idle_j["cpu"] == pytest.approx(r.total_energy_j, rel=1e-9)


@pytest.mark.extras
def test_optuna_trials_in_threads_share_the_instants_they_overlap(tmp_path):
    optuna = _optuna()
    from analyzer.engine.track_integrations import OptunaSpans

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial):
        time.sleep(0.15)
        return trial.suggest_float("x", 0.0, 1.0)

    with analyzer.track("optuna-threads", hooks=TrackHooks(meters={"cpu": ten_watts()}, interval_s=0.02), store=False,
                        log=tmp_path / "p.jsonl", site=SiteRequest(pue=1.0, grid=100.0)) as run:
        optuna.create_study().optimize(objective, n_trials=4, n_jobs=2, callbacks=[OptunaSpans(run)])
    r = run.result
    assert len(r.spans) == 4
    # two trials at a time: each gets about half of 10 W over its time, and together they hold the run's busy energy
    assert sum(s["energy_j"] for s in r.spans) < 0.75 * 10.0 * sum(s["seconds"] for s in r.spans)
    assert sum(s["energy_j"] for s in r.spans) + r.idle_j["cpu"] == pytest.approx(r.total_energy_j, rel=1e-9)


@pytest.mark.ray
@pytest.mark.slow
def test_ray_tune_callback_opens_a_span_per_trial(tmp_path):
    pytest.importorskip("ray.tune")
    import ray
    from ray import tune
    from analyzer.engine.track_integrations import ray_tune_spans

    def trainable(config):
        time.sleep(0.2)
        return {"loss": config["width"] * 0.1}

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        with analyzer.track("tune-search", hooks=TrackHooks(meters={"cpu": ten_watts()}), store=False,
                            log=tmp_path / "t.jsonl", site=SiteRequest(pue=1.0, grid=100.0)) as run:
            tuner = tune.Tuner(trainable, param_space={"width": tune.grid_search([8, 16])},
                               run_config=tune.RunConfig(storage_path=str(tmp_path / "tune"), callbacks=[ray_tune_spans(run)],
                                                         verbose=0))
            tuner.fit()
    finally:
        ray.shutdown()
    r = run.result
    assert sorted(s["params"]["param.width"] for s in r.spans) == [8, 16]
    assert all(s["status"] == "ok" and s["energy_j"] > 0 for s in r.spans)
    assert sum(s["self_energy_j"] for s in r.spans) + r.idle_j["cpu"] == pytest.approx(r.total_energy_j, rel=1e-9)


@pytest.mark.torch
def test_the_readme_example_runs_a_real_small_search(tmp_path):
    pytest.importorskip("torch")
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("tracked_search", Path(__file__).parents[2] / "examples" / "tracked_search.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    d = example.main(["--trials", "2", "--steps", "30", "--no-store", "--log", str(tmp_path / "ex.jsonl")])
    assert [s["name"] for s in d["spans"]] == ["w16-d1", "w32-d2", "final"]
    assert [s["identity"] for s in d["spans"]] == ["mlp:16x1", "mlp:32x2", d["spans"][-1]["identity"]]
    assert d["spans"][-1]["kind"] == "final" and d["meters"]["cpu"]["provenance"] in ("estimated", "measured")
    assert sum(s["energy_j"] for s in d["spans"]) + sum(d["idle_j"].values()) == pytest.approx(d["total_energy_j"], rel=1e-9)
