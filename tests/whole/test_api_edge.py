"""The public API validates at its edge (issue #35): each public function and record a user calls refuses a wrong
type or value with one of our errors naming the parameter, never a TypeError, an AttributeError, a string read as
its characters, or a count silently truncated; and the helpers behind it (checks.py, errors.echo)."""

import json
from pathlib import Path

import pytest

from analyzer import (AnalysisRequest, AnalyzerError, Scenario, analyze, evaluate, footprint, four_ms, load_profiles,
                      profile_onnx, resolve_site, resolve_target, SiteRequest, TargetRequest)
from analyzer.checks import check_int, check_keys, check_number, check_paths
from analyzer.errors import UsageError, echo
from analyzer.load import guard
from cli_helpers import cli

ROOT = Path(__file__).resolve().parents[2]
DECODERS = ROOT / "models" / "decoders"


@pytest.fixture(scope="module")
def ps():
    return load_profiles()


@pytest.fixture(scope="module")
def site(ps):
    return resolve_site(ps, SiteRequest(pue=1.1, grid=400.0))


def refused(fn, *phrases):
    """fn() raises one of our errors (not a TypeError, not an AttributeError) whose one line holds every phrase."""
    with pytest.raises(AnalyzerError) as e:
        fn()
    text = str(e.value)
    assert "\n" not in text and len(text) < 400, text
    for p in phrases:
        assert p in text, text
    return text


# ---- the helpers ----------------------------------------------------------------------------------------------

def test_echo_cuts_a_long_value_and_says_its_length():
    assert echo("fp16") == "fp16"
    long = echo("x" * 20_000_000)
    assert long.startswith("x" * 60) and "20,000,000 characters" in long and len(long) < 100
    assert echo(10 ** 5000) == "<an integer of 16,610 bits>"  # str() of it would raise ValueError (int-string limit)
    assert echo([1] * 10 ** 6) == "<a list of 1,000,000 items>"


def test_check_int_refuses_what_it_would_truncate():
    assert check_int("batch", 8, 1, 64) == 8 and check_int("batch", 8.0, 1, 64) == 8
    for bad in (2.5, True, "8", None, float("nan"), [8]):
        refused(lambda: check_int("batch", bad, 1, 64), "batch", "integer from 1 to 64")


def test_check_number_refuses_text_and_huge_integers():
    refused(lambda: check_number("pue", "1.2", 1, 5), "pue 1.2: a number is required, not text")
    refused(lambda: check_number("pue", 10 ** 400, 1, 5), "pue <an integer of")


def test_check_paths_takes_one_path_as_one():
    assert check_paths("profiles", "some/dir") == [Path("some/dir")]
    assert check_paths("profiles", ("a", Path("b"))) == [Path("a"), Path("b")]
    refused(lambda: check_paths("profiles", 5), "profiles 5: must be a path or a list of paths")


def test_check_keys_names_the_closest_key():
    refused(lambda: check_keys("serving", {"max_concurency": 8}, ("max_concurrency", "kv_dtype")),
            "unknown key 'max_concurency'", "did you mean 'max_concurrency'")


# ---- the public functions -------------------------------------------------------------------------------------

def test_load_profiles_takes_a_folder_as_text_not_its_characters(tmp_path):
    (tmp_path / "hardware").mkdir()
    assert load_profiles(str(tmp_path)) is load_profiles([tmp_path])  # one folder, remembered once
    refused(lambda: load_profiles(str(tmp_path / "nowhere")), "profiles", "not a directory")
    refused(lambda: load_profiles(None), "profiles None: must be a path")


def test_evaluate_takes_a_model_path_as_one_candidate(ps, tmp_path):
    target = resolve_target(ps, TargetRequest("t4", batch=2, pue=1.1, grid=400.0))
    (e,) = evaluate(str(tmp_path / "missing.onnx"), target)  # one candidate, not one per character
    assert not e.ok and "missing.onnx" in e.error
    refused(lambda: evaluate(None, target), "candidates None: must be a model path or a list")
    refused(lambda: evaluate({"a": 1}, target), "candidates")
    refused(lambda: evaluate([3], target), "candidates 3: must be a path")
    refused(lambda: evaluate([], "t4"), "target t4: must be a Target")


@pytest.mark.parametrize("kw, says", [
    ({"batch": 2.5}, "batch 2.5: must be an integer"),
    ({"batch": "8"}, "batch 8: must be an integer"),
    ({"dims": {"n": 2.5}}, "dims 2.5: must be an integer"),
    ({"dims": ["n"]}, "dims <a list of 1 items>: must be a dict"),
    ({"pue": "1.2"}, "pue 1.2: a number is required, not text"),
    ({"hardware": 7}, "hardware 7: must be text"),
    ({"runtime": "x" * 20_000_000}, "20,000,000 characters"),
    ({"phase": "serving", "serving": {"max_concurrency": 2.5}}, "max_concurrency 2.5: must be an integer"),
    ({"phase": "serving", "serving": {"max_concurency": 8}}, "did you mean 'max_concurrency'"),
    ({"phase": "serving", "serving": {"kv_dtype": "x" * 20_000_000}}, "kv_dtype"),
    ({"phase": "serving", "serving": "fp8"}, "serving fp8: must be a dict"),
    ({"net": "yes"}, "net yes: must be True or False"),
])
def test_resolve_target_refuses_wrong_types_naming_the_parameter(ps, kw, says):
    refused(lambda: resolve_target(ps, TargetRequest(**{"hardware": "t4", **kw})), says)


def test_resolve_target_and_site_need_a_profile_set():
    refused(lambda: resolve_target(None, TargetRequest("t4")), "ps None: must be a ProfileSet")
    refused(lambda: resolve_site("profiles"), "ps profiles: must be a ProfileSet")


def test_a_served_batch_of_two_and_a_half_is_refused_not_truncated(ps):
    t = resolve_target(ps, TargetRequest("h100", phase="serving", serving={"max_concurrency": 2}))
    assert t.phase.serving.max_num_seqs == 2
    refused(lambda: resolve_target(ps, TargetRequest("h100", phase="serving", serving={"max_concurrency": 2.5})), "max_concurrency")


def test_footprint_takes_a_hardware_name_and_refuses_a_site_name(ps, site):
    by_name = footprint("h100", 8, 72, site)
    by_profile = footprint(ps.get("hardware", "h100"), 8, 72, site)
    assert by_name.energy_kwh == by_profile.energy_kwh > 0
    # 8 chips x 72 h x the stated average power x PUE 1.1 / 1000
    assert by_name.energy_kwh == pytest.approx(8 * 72 * by_name.avg_power_w * 1.1 / 1000)
    refused(lambda: footprint("h100", 8, 72, "google-fleet"), "site google-fleet: must be a Site",
            "resolve_site(load_profiles(), SiteRequest(datacenter='google-fleet'")
    refused(lambda: footprint(None, 8, 72, site), "hw None: must be a hardware profile or its name")
    refused(lambda: footprint("h100", "8", 72, site), "count 8: a number is required, not text")
    refused(lambda: footprint("h100", 8, None, site), "hours: a number is required, not None")
    refused(lambda: footprint("no-such-chip", 8, 72, site), "unknown hardware 'no-such-chip'")


def test_four_ms_refuses_negative_compute_instead_of_minus_one_factors(site):
    base = Scenario("h100", compute_flops=2e18, site=site)
    new = Scenario("h100", compute_flops=1e18, site=site)
    assert four_ms(base, new).model == pytest.approx(2.0)  # the same chip and site: Model alone, 2x
    refused(lambda: Scenario("h100", compute_flops=-1e18, site=site), "compute_flops -1e+18: must be a finite number in (0")
    refused(lambda: Scenario("h100", throughput_tflops=0, site=site), "throughput_tflops 0")
    refused(lambda: Scenario(None), "hardware None")
    refused(lambda: Scenario("h100", site="google-fleet"), "site google-fleet: must be a Site")
    refused(lambda: four_ms(base, None), "new None: must be a Scenario")
    refused(lambda: four_ms(base, new, model_ratio=-2), "model_ratio -2")


def test_limits_refuse_a_negative_timeout():
    for kw, says in (({"timeout_s": -1}, "timeout -1"), ({"memory_mb": 0}, "memory_limit 0"),
                     ({"timeout_s": "10"}, "timeout 10: a number is required")):
        with pytest.raises(UsageError, match=says):
            with guard.limits(**kw):
                pass


def test_profile_onnx_refuses_wrong_types(tmp_path):
    refused(lambda: profile_onnx(None), "path None: must be a path")
    refused(lambda: profile_onnx(tmp_path / "m.onnx", batch=2.5), "batch 2.5: must be an integer")
    refused(lambda: profile_onnx(tmp_path / "m.onnx", dims="batch=2"), "dims batch=2: must be a dict")
    refused(lambda: profile_onnx(tmp_path / "m.onnx", per_op="yes"), "per_op yes: must be True or False")


@pytest.mark.parametrize("kw, says", [
    ({"batch": 2.5}, "batch 2.5: must be an integer"),
    ({"samples": None}, "samples: must be an integer from 100"),
    ({"folder": None}, "folder None: must be a path"),
    ({"hardware": 5}, "hardware 5: must be text"),
    ({"nas_cost_kg": -1}, "nas_cost_kg -1"),
    ({"sensitivity": "no"}, "sensitivity no: must be True or False"),
    ({"items_per_day": [1e6]}, "items_per_day"),
])
def test_analysis_request_is_checked_as_it_is_made(kw, says):
    refused(lambda: AnalysisRequest(**kw), says)


def test_analysis_request_takes_a_path_and_a_number_of_items():
    r = AnalysisRequest(folder=Path("models"), items_per_day=1e6)
    assert r.folder == "models" and r.items_per_day == "1000000.0"


def test_analyze_needs_a_request_and_profiles(ps):
    refused(lambda: analyze(None, ps), "req None: must be an AnalysisRequest")
    refused(lambda: analyze(AnalysisRequest(), None), "ps None: must be a ProfileSet")


# ---- one bad candidate among several (README: a candidate that fails is named; the others count) --------------

@pytest.fixture()
def decoders_with_a_bad_one(tmp_path):
    folder = tmp_path / "decoders"
    folder.mkdir()
    for name in ("gpt2", "llama-3.1-8b"):
        (folder / f"{name}.json").write_bytes((DECODERS / f"{name}.json").read_bytes())
    bad = json.loads((DECODERS / "qwen3-8b.json").read_text())
    bad["num_key_value_heads"] = 0  # once a ZeroDivisionError that ended the whole run
    (folder / "bad.json").write_text(json.dumps(bad))
    return folder


def test_a_population_reports_a_bad_config_and_goes_on(decoders_with_a_bad_one):
    r = cli("population", decoders_with_a_bad_one, "--phase", "serving", "--workers", "1", "--no-store", "--format", "json")
    assert r.exit_code == 1, r.output  # a candidate failed: said, and the exit code says so too
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "bad.json" in errors[0], r.stderr
    out = json.loads(r.stdout)
    assert (out["candidates"], out["failed"]) == (3, 1)
    assert sorted(rec["name"] for rec in out["top"]) == ["gpt2", "llama-3.1-8b"]


def test_an_analysis_reports_a_bad_config_and_goes_on(decoders_with_a_bad_one, tmp_path):
    r = cli("analyze", decoders_with_a_bad_one, "--baseline", "llama-3.1-8b", "--nas-model", "gpt2", "--no-store",
            "--samples", "500", "--no-sensitivity", "--format", "json")
    assert r.exit_code == 1, r.output  # the analysis is whole, and the exit code says a candidate failed
    out = json.loads(r.stdout)
    assert {p["name"] for p in out["projections"]} == {"gpt2", "llama-3.1-8b"}
    assert len(out["errors"]) == 1 and "bad.json" in out["errors"][0]
    assert out["pair"]["baseline"] == "llama-3.1-8b" and out["pair"]["nas"] == "gpt2"


def test_evaluate_keeps_the_others_when_one_candidate_breaks_the_tool(ps, decoders_with_a_bad_one):
    target = resolve_target(ps, TargetRequest("h100", phase="serving"))
    evs = evaluate(sorted(decoders_with_a_bad_one.glob("*.json")), target)
    assert [e.ok for e in evs] == [False, True, True]  # bad, gpt2, llama-3.1-8b
    assert "bad.json" in evs[0].error and "\n" not in evs[0].error


HOSTILE = [None, -1, 0, 2.5, float("nan"), float("inf"), True, "x", "", [], {}, 10 ** 400, b"x", object(), ("a",), {"a": 1}]


def test_every_public_parameter_takes_any_value_without_escaping_our_errors(ps, site):
    """Each parameter of the public API set to each hostile value: a result, or one of our one-line errors; never a
    TypeError, AttributeError, OverflowError or ValueError from inside (656 calls)."""
    import analyzer as A

    def s(**kw):
        return A.Scenario("h100", compute_flops=1e18, site=site, **kw)

    calls = {
        "load_profiles": lambda v: A.load_profiles(v), "footprint.hw": lambda v: A.footprint(v, 8, 72, site),
        "footprint.count": lambda v: A.footprint("h100", v, 72, site), "footprint.hours": lambda v: A.footprint("h100", 8, v, site),
        "footprint.avg_power_w": lambda v: A.footprint("h100", 8, 72, site, avg_power_w=v),
        "footprint.utilization": lambda v: A.footprint("h100", 8, 72, site, utilization=v),
        "Scenario.compute_flops": lambda v: A.Scenario("h100", compute_flops=v, site=site),
        "Scenario.dtype": lambda v: A.four_ms(s(dtype=v), s()), "Scenario.achievable": lambda v: A.Scenario("h100", achievable=v),
        "four_ms.model_ratio": lambda v: A.four_ms(s(), s(), v),
        **{f"resolve_site.{k}": (lambda k: lambda v: A.resolve_site(ps, A.SiteRequest(**{k: v})))(k)
           for k in ("pue", "grid", "region", "datacenter", "power_boundary", "net")},
        **{f"resolve_site.{k}": (lambda k: lambda v: A.resolve_site(ps, **{k: v}))(k) for k in ("utilization", "embodied")},
        "resolve_target.hardware": lambda v: A.resolve_target(ps, A.TargetRequest(v)),
        **{f"resolve_target.{k}": (lambda k: lambda v: A.resolve_target(ps, A.TargetRequest("t4", **{k: v})))(k)
           for k in ("dtype", "batch", "phase", "dims", "batch_norm", "site", "region", "runtime", "per_kernel")},
        "resolve_target.prompt_tokens": lambda v: A.resolve_target(ps, A.TargetRequest("t4", phase="prefill", prompt_tokens=v)),
        "resolve_target.optimizer": lambda v: A.resolve_target(ps, A.TargetRequest("t4", phase="train", optimizer=v)),
        "resolve_target.serving": lambda v: A.resolve_target(ps, A.TargetRequest("h100", phase="serving", serving=v)),
        **{f"resolve_target.serving.{k}": (lambda k: lambda v: A.resolve_target(ps, A.TargetRequest("h100", phase="serving", serving={k: v})))(k)
           for k in ("max_concurrency", "max_batched_tokens", "kv_dtype", "lengths", "tensor_parallel")},
        "evaluate.candidates": lambda v: A.evaluate(v, A.resolve_target(ps, A.TargetRequest("t4", batch=1))),
        "evaluate.target": lambda v: A.evaluate([], v), "profile_onnx.path": lambda v: A.profile_onnx(v),
        "profile_onnx.dims": lambda v: A.profile_onnx(ROOT / "models" / "mnasnet1_0.onnx", dims=v),
        "profile_onnx.batch": lambda v: A.profile_onnx(ROOT / "models" / "mnasnet1_0.onnx", batch=v),
        **{f"AnalysisRequest.{k}": (lambda k: lambda v: A.AnalysisRequest(**{k: v}))(k)
           for k in ("folder", "items_per_day", "seed", "pue", "samples", "objective", "net")},
        "analyze.req": lambda v: A.analyze(v, ps), "analyze.ps": lambda v: A.analyze(A.AnalysisRequest(), v),
    }
    escaped = []
    for name, fn in calls.items():
        for v in HOSTILE:
            try:
                fn(v)
            except AnalyzerError as e:
                assert "\n" not in str(e) and len(str(e)) < 500, (name, str(e)[:200])
            except Exception as e:  # noqa: BLE001 - what this test looks for
                escaped.append(f"{name}={echo(v)}: {type(e).__name__}: {echo(str(e))}")
    assert not escaped, escaped[:10]
