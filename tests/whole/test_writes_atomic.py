"""Writes (issue #35): one atomic writer (a temporary file in the target's folder, fsync, os.replace) for every output;
a write that fails part-way leaves the old file whole; an output that is one of the command's inputs, or a store of
another kind, is refused before anything is written."""

import errno
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from analyzer.errors import UsageError
from analyzer.files import atomic_open, refuse_inputs, write_atomic
from cli_helpers import cli

ROOT = Path(__file__).resolve().parents[2]


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_write_atomic_replaces_whole_and_keeps_mode_and_links(tmp_path):
    p = tmp_path / "out.json"
    p.write_text("old")
    p.chmod(0o640)
    write_atomic(p, "new\n")
    assert p.read_text() == "new\n" and (p.stat().st_mode & 0o777) == 0o640 and _leftovers(tmp_path) == []
    link = tmp_path / "link.json"
    link.symlink_to(p)
    write_atomic(link, "through the link")
    assert link.is_symlink() and p.read_text() == "through the link"
    write_atomic(tmp_path / "sub" / "deeper" / "x.csv", b"a,b\r\n")
    assert (tmp_path / "sub" / "deeper" / "x.csv").read_bytes() == b"a,b\r\n"


def test_a_failing_rename_leaves_the_old_file_intact(tmp_path, monkeypatch):
    p = tmp_path / "profile.toml"
    p.write_text("name = 'good'\n")

    def full(*_a, **_k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(UsageError, match=r"cannot write \(No space left on device\); the file there was left as it was"):
        write_atomic(p, "name = 'half", UsageError)
    assert p.read_text() == "name = 'good'\n" and _leftovers(tmp_path) == []


def test_a_write_failing_mid_file_leaves_the_old_file_intact(tmp_path):
    p = tmp_path / "r.csv"
    p.write_text("old,rows\n")
    with pytest.raises(RuntimeError):
        with atomic_open(p, "w") as f:
            f.write("a,b\n")
            raise RuntimeError("killed half-way")
    assert p.read_text() == "old,rows\n" and _leftovers(tmp_path) == []


def test_special_files_are_refused_as_outputs(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(UsageError, match="is a FIFO, not a regular file: refused, nothing was written"):
        write_atomic(tmp_path / "fifo", "x", UsageError)
    with pytest.raises(UsageError, match="is a folder"):
        write_atomic(tmp_path, "x", UsageError)


def test_refuse_inputs_through_any_path(tmp_path):
    a = tmp_path / "a.json"
    a.write_text("{}")
    (tmp_path / "sub").mkdir()
    for same in (a, tmp_path / "sub" / ".." / "a.json", str(a)):
        with pytest.raises(UsageError, match="is also an input of this command"):
            refuse_inputs(same, [None, tmp_path / "b.json", a], UsageError)
    refuse_inputs(tmp_path / "c.json", [a, None, ""], UsageError)  # another file: fine


def test_report_html_over_its_own_input_is_refused(tmp_path):
    a = tmp_path / "a.json"
    a.write_text('{"kind": "nas-analyzer analysis"}')
    before = a.read_bytes()
    r = cli("report", a, "--html", a)
    assert r.exit_code == 2 and "is also an input of this command" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert a.read_bytes() == before


def test_export_over_its_store_or_measurements_is_refused(tmp_path):
    from analyzer.engine.store import Store

    s = tmp_path / "s.sqlite"
    Store.open(s).close()
    before = s.read_bytes()
    r = cli("export", "--store", s, "--out", s)
    assert r.exit_code == 2 and f"--out {s}: is also an input of this command" in r.stderr
    assert s.read_bytes() == before
    r = cli("export", "--store", s, "--out", f"{s}-wal")
    assert r.exit_code == 2 and "is also an input of this command" in r.stderr and not Path(f"{s}-wal").exists()
    m = tmp_path / "m.jsonl"
    m.write_text("")
    r = cli("export", "--kind", "measurement", "--measurements", m, "--out", m, "--format", "csv")
    assert r.exit_code == 2 and "is also an input" in r.stderr and m.read_text() == ""


def test_calibrate_over_its_own_csv_is_refused(tmp_path):
    c = tmp_path / "c.csv"
    c.write_text("model,batch,latency_s\nm.onnx,1,0.01\n")
    r = cli("calibrate", "--hardware", "h100-sxm", "--csv", c, "--out", c)
    assert r.exit_code == 2 and "is also an input of this command" in r.stderr
    assert c.read_text() == "model,batch,latency_s\nm.onnx,1,0.01\n"


def test_measure_store_refuses_a_store_of_another_kind(tmp_path):
    from analyzer.engine.store import Store
    from analyzer.measure import store as mstore

    s = tmp_path / "results.sqlite"
    Store.open(s).close()
    before = s.read_bytes()
    model = ROOT / "models" / "mobilenet_v2.onnx"
    r = cli("measure", model, "--store", s, "--meter", "none", "--max-time", "0.1")
    assert r.exit_code == 2 and "is an SQLite database (a results store?), not a JSON-lines file" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and s.read_bytes() == before
    with pytest.raises(UsageError, match="is an SQLite database"):
        mstore.append(s, [])
    with pytest.raises(UsageError, match="is an SQLite database"):
        mstore.read(s)
    other = tmp_path / "notes.txt"
    other.write_text("my notes\n")
    with pytest.raises(UsageError, match="does not begin with a JSON object"):
        mstore.check_appendable(other)
    mstore.check_appendable(tmp_path / "new.jsonl")  # nothing there yet: fine


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_FSIZE as on Linux")
def test_a_full_target_leaves_the_old_report_whole(tmp_path):
    """`ulimit -f`: the report is larger than the limit; the write fails with EFBIG (Python ignores SIGXFSZ) and the
    report that was there survives byte for byte."""
    out = tmp_path / "report.html"
    out.write_text("<html>the old report</html>")
    analysis = tmp_path / "a.json"
    r = cli("analyze", ROOT / "models",
            "--no-store", "--samples", "200", "--no-sensitivity", "--quiet", "--format", "json")
    if r.exit_code != 0:
        pytest.skip("no analysable folder of models here")
    analysis.write_text(r.stdout)

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))

    p = subprocess.run([sys.executable, "-m", "analyzer", "report", str(analysis), "--html", str(out)], capture_output=True,
                       text=True, preexec_fn=limit, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert p.returncode == 2, p.stderr
    assert "cannot write (File too large); the file there was left as it was" in p.stderr and "Traceback" not in p.stderr
    assert out.read_text() == "<html>the old report</html>" and _leftovers(tmp_path) == []
    json.loads(analysis.read_text())  # the input untouched


def test_analyze_out_over_its_search_plan_is_refused(tmp_path):
    plan = tmp_path / "analysis.json"
    plan.write_text('{"kind": "nas-analyzer search plan"}')
    r = cli("analyze", ROOT / "models", "--out", tmp_path, "--search-plan", plan, "--no-store")
    assert r.exit_code == 2 and "analysis.json: is also an input of this command" in r.stderr
    assert plan.read_text() == '{"kind": "nas-analyzer search plan"}' and not (tmp_path / "report.html").exists()
