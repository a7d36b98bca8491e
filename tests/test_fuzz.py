"""Hostile input (issue #16): the corpus of files that once broke the tool, a short seeded fuzz campaign, and
the limits that keep an untrusted model from hanging the tool or taking the machine's memory."""

import os
import time
import tomllib
from pathlib import Path

import pytest

import fuzzing
from analyzer import profile_onnx
from analyzer.errors import ResourceLimitError, UnboundDimError
from analyzer.load import guard
from cli_helpers import cli

CORPUS = Path(__file__).parent / "corpus"
EXPECTED = tomllib.loads((CORPUS / "expected.toml").read_text())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_case_fails_in_one_line(name):
    want = EXPECTED[name]
    r = cli("profile", CORPUS / name, *want.get("args", []))
    assert r.exit_code == want["exit"], r.output
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), r.stderr
    assert want["says"] in lines[0], lines[0]
    assert "Traceback" not in r.output and "internal error" not in r.output


def test_every_corpus_file_is_listed():
    assert {p.name for p in CORPUS.glob("*.onnx")} == set(EXPECTED)


def test_a_short_fuzz_campaign_finds_nothing(tmp_path):
    """Seeded byte-level and structure-aware mutations of the seed models: every outcome is a sane profile or
    one of our errors (benchmarks/fuzz.py runs the long campaigns)."""
    with guard.limits(timeout_s=10, memory_mb=1024):
        c = fuzzing.campaign(400, 400, 20261127, tmp_path, profile_onnx, deadline=time.monotonic() + 25)
    details = "\n\n".join(f"{f.kind}: {f.detail}" for f in c.findings[:3])
    assert not c.findings, details
    assert c.inputs >= 200 and c.profiled > 0 and c.refused > 0


def test_the_seed_models_profile_cleanly(tmp_path):
    for i, m in enumerate(fuzzing.seeds()):
        path = tmp_path / f"seed{i}.onnx"
        path.write_bytes(m.SerializeToString())
        try:
            p = profile_onnx(path, dims={"batch": 2, "seq": 8})
        except Exception as e:  # noqa: BLE001 - the NonZero seed needs an assumption
            assert "assume_upper_bound" in str(e), (i, e)
            p = profile_onnx(path, dims={"seq": 8}, assume_upper_bound=True)
        assert fuzzing.check_profile(p) is None


@pytest.mark.skipif(not guard.SUPPORTED, reason="no fork on this platform")
def test_the_time_limit_stops_a_loop():
    t = time.monotonic()
    with guard.limits(timeout_s=1), pytest.raises(ResourceLimitError, match="did not finish within 1 s"):
        guard.run_limited(time.sleep, 30, what="sleeper")
    assert time.monotonic() - t < 5


def _hog() -> int:
    return len(bytearray(1 << 31))


def _unbound() -> None:
    raise UnboundDimError(["seq"], "node 'x'")


def _add(a: int, b: int) -> int:
    return a + b


def _divide_by_zero() -> float:
    return 1 / 0


def _abort() -> None:
    os.abort()


@pytest.mark.skipif(not guard.SUPPORTED, reason="no fork on this platform")
def test_the_memory_limit_stops_an_allocation():
    with guard.limits(memory_mb=128), pytest.raises(ResourceLimitError, match="128 MB memory limit"):
        guard.run_limited(_hog, what="hog")


@pytest.mark.skipif(not guard.SUPPORTED, reason="no fork on this platform")
def test_errors_cross_the_process_boundary_as_they_were():
    with pytest.raises(UnboundDimError, match="dim seq=N") as e:
        guard.run_limited(_unbound, what="m")
    assert e.value.exit_code == 1 and e.value.params() == ["dim", "batch"]  # its parameters still marked for the CLI
    assert guard.run_limited(_add, 2, 3, what="m") == 5
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        guard.run_limited(_divide_by_zero, what="m")


@pytest.mark.skipif(not guard.SUPPORTED, reason="no fork on this platform")
def test_one_worker_serves_many_models_and_a_dead_one_is_replaced():
    """The worker is forked once and reused; after it is killed (timeout) or dies (abort), the next request
    gets a fresh one, and results stay right."""
    first = guard.run_limited(os.getpid, what="m")
    assert guard.run_limited(os.getpid, what="m") == first != os.getpid()
    with pytest.raises(ResourceLimitError, match="aborted"):
        guard.run_limited(_abort, what="m")
    second = guard.run_limited(os.getpid, what="m")
    assert second != first and guard.run_limited(_add, 1, 1, what="m") == 2
    with guard.limits(timeout_s=1), pytest.raises(ResourceLimitError, match="did not finish"):
        guard.run_limited(time.sleep, 30, what="m")
    assert guard.run_limited(os.getpid, what="m") not in (first, second)


def test_cli_timeout_and_memory_limit_flags(tmp_path):
    path = tmp_path / "ok.onnx"
    path.write_bytes(fuzzing.seeds()[0].SerializeToString())
    assert cli("profile", path, "--timeout", "5", "--memory-limit", "512").exit_code == 0
    for flag, value in (("--timeout", "0"), ("--timeout", "nan"), ("--memory-limit", "1")):
        r = cli("profile", path, flag, value)
        assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1, r.output


def test_fifo_in_a_profile_folder_is_refused_not_read(tmp_path):
    import os

    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    (tmp_path / "hardware").mkdir()
    os.mkfifo(tmp_path / "hardware" / "x.toml")
    r = cli("profiles", "list", "hardware", "--profiles", tmp_path)
    assert r.exit_code != 0 and "not a regular file" in r.stderr
