"""Every usage error exits 2 with one line on stderr (README: 0 ok; 2 usage: a bad flag or value, a missing file, an
unknown profile name; 1 analysis), in every command: a table of errors a person makes, one or more per command."""

from pathlib import Path

import pytest

from cli_helpers import cli

ROOT = Path(__file__).resolve().parents[2]
R18 = ROOT / "models" / "resnet18.onnx"
MISSING = ROOT / "models" / "missing.onnx"

CASES = [
    ("profile", MISSING), ("profile", R18, "--batch", "0"), ("profile", R18, "--dim", "seq"), ("profile", R18, "--no-such-flag"),
    ("profile", R18, "--phase", "train"), ("profile", R18, "--timeout", "nan"),
    ("project", MISSING), ("project", R18, "--hardware", "h1000"), ("project", R18, "--dtype", "fp64"),
    ("project", R18, "--runtime", "tensorrt"), ("project", R18, "--batch", "0"), ("project", R18, "--pue", "0.5"),
    ("project", R18, "--region", "us-central1@2015"), ("project", R18, "--region", "atlantis"),
    ("project", R18, "--grid-gco2e-per-kwh", "inf"), ("project", R18, "--pue", "1.2", "--datacenter", "google-fleet"),
    ("project", R18, "--phase", "prefill", "--prompt-tokens", "0"), ("project", R18, "--net", "--grid-gco2e-per-kwh", "100"),
    ("rank", MISSING), ("rank", R18, "--objective", "speed"), ("rank", R18, "--hardware", "nope"),
    ("analyze", "--region", "us-central1@2015"), ("analyze", ROOT / "no-such-folder"), ("analyze", "--baseline", "vgg"),
    ("analyze", "--nas-model", "vgg"), ("analyze", "--inferences-per-day", "lots"), ("analyze", "--samples", "5"),
    ("analyze", "--nas-preset", "nope"), ("analyze", "--accuracy-tolerance", "-1"),
    ("amortize", "--nas-cost-kg", "10", "--baseline-co2e-g", "1"),
    ("amortize", "--nas-cost-kg", "-1", "--baseline-co2e-g", "1", "--nas-co2e-g", "0.5", "--inferences-per-day", "1e6"),
    ("strategies", "--one-off-kg", "nan", "--per-scenario-kg", "1", "--search-per-scenario-kg", "2"),
    ("population", "space:0"), ("population", "nothing:5"), ("population", "space:3", "--out", "x.txt"),
    ("plan-search", "space:3"), ("plan-search", "space:3", "--samples-per-candidate", "100", "--schedule", "halving:1"),
    ("plan-search", "--candidate-chip-hours", "1"),
    ("measure", MISSING), ("measure", R18, "--batch", "0"), ("measure", R18, "--max-time", "0"),
    ("footprint", "--hardware", "h100", "--count", "1"), ("footprint", "--hardware", "h100", "--count", "1", "--hours", "-3"),
    ("fourm", "--base-hardware", "h100", "--new-hardware", "nope", "--model-ratio", "2"),
    ("profiles", "show", "nope"), ("calibrate", "--hardware", "h100", "--out", "x.toml"),
    ("history", "--format", "xml"), ("export", "--kind", "bogus"), ("report", MISSING, "--html", "x.html"),
    ("no-such-command",), ("profile", R18, "--batch", "-1"), ("profile", R18, "--format", "xml"), ("project",),
    ("analyze", "--html", "x.html"), ("analyze", "--nas-model", "resnet50"),
]


@pytest.mark.parametrize("args", CASES, ids=lambda a: " ".join(str(x).replace(str(ROOT) + "/", "") for x in a))
def test_a_usage_error_exits_2_with_one_line(args, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = cli(*args)
    assert r.exit_code == 2, (r.exit_code, r.output)
    err = r.stderr.strip()
    assert err and "Traceback" not in err, r.output
    assert err.startswith("error:") and len(err.splitlines()) == 1, err  # click's usage errors too (cli/base.py)


def test_a_config_json_given_as_onnx_says_how_to_price_it():
    r = cli("profile", ROOT / "models" / "decoders" / "gpt2.json")
    assert r.exit_code == 1 and "not a valid ONNX file" in r.stderr and "--phase serving" in r.stderr, r.output
    assert len(r.stderr.strip().splitlines()) == 1
