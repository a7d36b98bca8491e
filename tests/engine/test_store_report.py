"""Results store (transactions, kill -9, concurrency, corrupt/newer/unwritable stores) and the HTML report
(plots present, hostile text escaped, rendered in headless Chromium)."""

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from analyzer.errors import StoreError
from analyzer.engine.store import SCHEMA_VERSION, Store
from cli_helpers import cli

ROOT = Path(__file__).resolve().parents[2]


def test_put_get_and_round_trip(tmp_path):
    s = Store.open(tmp_path / "r.sqlite")
    s.put("projection", "k1", "m.onnx", "abc", {"batch": 1}, "pv", {"latency_s": 0.5})
    assert s.get("projection", "k1") == {"latency_s": 0.5} and s.get("projection", "nope") is None
    assert s.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert [r["payload"] for r in s.results("projection")] == [{"latency_s": 0.5}]


_WRITER = r"""
import sys, time
from analyzer.engine.store import Store
s = Store.open(__import__("pathlib").Path(sys.argv[1]))
s.put("projection", "committed", "m", "sha", {}, "pv", {"ok": True})
s.conn.execute("BEGIN IMMEDIATE")
for i in range(1000):
    s.conn.execute("INSERT INTO results VALUES ('projection', ?, 'm', 'sha', '{}', 'v', 'pv', 0, '{}')", (f"pending{i}",))
print("in-transaction", flush=True)
time.sleep(60)
"""


def test_writer_killed_mid_transaction_leaves_store_readable(tmp_path):
    path = tmp_path / "r.sqlite"
    p = subprocess.Popen([sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert p.stdout.readline().strip() == "in-transaction"
    p.send_signal(signal.SIGKILL)
    p.wait()
    s = Store.open(path)
    assert s.get("projection", "committed") == {"ok": True}
    assert s.conn.execute("SELECT count(*) FROM results WHERE key LIKE 'pending%'").fetchone()[0] == 0
    assert s.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


_CONCURRENT = r"""
import sys
from analyzer.engine.store import Store
s = Store.open(__import__("pathlib").Path(sys.argv[1]))
for i in range(100):
    s.put("projection", f"{sys.argv[2]}-{i}", "m", "sha", {}, "pv", {"i": i})
"""


def test_concurrent_writers(tmp_path):
    path = tmp_path / "r.sqlite"
    Store.open(path).close()
    procs = [subprocess.Popen([sys.executable, "-c", _CONCURRENT, str(path), str(w)], cwd=ROOT) for w in range(3)]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    s = Store.open(path)
    assert s.conn.execute("SELECT count(*) FROM results").fetchone()[0] == 300


def test_a_store_in_use_is_checked_with_its_log(tmp_path):
    """While a writer holds the store, its rows sit in PATH-wal, not yet in the file: another run's check and
    reads see them (the file is read as unchanging only when nothing is beside it)."""
    path = tmp_path / "r.sqlite"
    writer = Store.open(path)
    writer.put_many([("evaluation", f"k{i}", "m", "sha", {}, "pv", {"latency_s": i}) for i in range(5)])
    assert Path(f"{path}-wal").stat().st_size > 0
    reader = Store.open(path)
    assert len(reader.get_many("evaluation", {f"k{i}": i for i in range(5)})) == 5
    assert [r["payload"]["latency_s"] for r in Store.open_readonly(path).results()] == [0, 1, 2, 3, 4]
    reader.close()
    writer.close()


def test_corrupt_newer_and_unwritable_stores(tmp_path, shipped):
    corrupt = tmp_path / "corrupt.sqlite"
    corrupt.write_bytes(b"this is not a database" * 100)
    before = corrupt.read_bytes()
    with pytest.raises(StoreError, match="not usable"):
        Store.open(corrupt)
    newer = tmp_path / "newer.sqlite"
    Store.open(newer).close()
    c = sqlite3.connect(newer)
    c.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION + 1),))
    c.commit()
    c.close()
    with pytest.raises(StoreError, match="newer than this tool"):
        Store.open(newer)
    folder = shipped["resnet50"].parent
    for bad in (corrupt, newer, tmp_path / "a-file" / "x.sqlite"):
        (tmp_path / "a-file").write_text("") if not (tmp_path / "a-file").exists() else None
        r = cli("analyze", folder, "--store", bad)
        assert r.exit_code == 0 and "continuing without the store" in r.stderr, r.output
    assert corrupt.read_bytes() == before  # nothing of the user's lost


def _damaged_store(tmp_path) -> Path:
    """A real store whose results b-tree has a page of garbage in the middle (a disk or copy gone wrong)."""
    path = tmp_path / "damaged.sqlite"
    s = Store.open(path)
    s.put_many([("evaluation", f"k{i}", "m", "sha", {}, "pv", {"latency_s": i, "pad": "x" * 400}) for i in range(200)])
    s.close()
    Store.open(path).close()  # the last writer's close checkpoints the WAL into the file
    data = bytearray(path.read_bytes())
    page = 4096
    middle = (len(data) // page // 2) * page
    data[middle + 8: middle + 400] = b"A" * 392
    path.write_bytes(bytes(data))
    for side in ("-wal", "-shm"):
        Path(str(path) + side).unlink(missing_ok=True)
    return path


def _sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_corrupt_store_is_never_written(tmp_path):
    """Opened read-only and checked first: the run goes on without it, with one warning naming it; export and
    history give one line; the file's bytes never change (it is kept for recovery), and nothing is created beside
    it (a read-only connection to a WAL store leaves PATH-wal and PATH-shm)."""
    bad = _damaged_store(tmp_path)
    before = _sha(bad)
    with pytest.raises(StoreError, match="is corrupt .*left untouched for recovery"):
        Store.open(bad)
    r = cli("population", "space:3", "--hardware", "t4", "--store", bad, "--workers", "1", "--format", "json")
    assert r.exit_code == 0 and json.loads(r.stdout)["evaluated"] == 3, r.output
    warning = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(warning) == 1 and warning[0].startswith(f"warning: store {bad} is corrupt") and "continuing without" in warning[0]
    folder = tmp_path / "models"
    folder.mkdir()
    shutil.copy(ROOT / "models" / "mobilenet_v2.onnx", folder / "a.onnx")
    shutil.copy(ROOT / "models" / "resnet18.onnx", folder / "b.onnx")
    r = cli("analyze", folder, "--store", bad, "--nas-model", "a", "--baseline", "b", "--samples", "200", "--no-sensitivity",
            "--format", "json")
    assert r.exit_code == 0 and f"warning: store {bad} is corrupt" in r.stderr, r.output
    for args in (("export", "--store", bad, "--format", "csv"), ("history", "--store", bad)):
        r = cli(*args)
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        assert r.exit_code == 1 and len(lines) == 1 and "is corrupt" in lines[0], (args, r.output)
    assert _sha(bad) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["damaged.sqlite", "models"]  # no -wal, -shm or -journal beside it


def test_a_damaged_row_stops_the_store_for_the_run(tmp_path):
    """A structurally sound store whose stored result is not what the engine writes (text where a number belongs,
    a negative energy): never read as a result, never written over; the run evaluates and says so once."""
    store = tmp_path / "s.sqlite"
    r = cli("population", "space:3", "--hardware", "t4", "--store", store, "--workers", "1", "--format", "json")
    first = json.loads(r.stdout)["top"]
    with sqlite3.connect(store) as c:
        key, payload = c.execute("SELECT key, payload FROM results LIMIT 1").fetchone()
        c.execute("UPDATE results SET payload=? WHERE key=?", (payload.replace('"co2e_g_per_item": ', '"co2e_g_per_item": -'), key))
    before = _sha(store)
    r = cli("population", "space:3", "--hardware", "t4", "--store", store, "--workers", "1", "--format", "json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["from_store"] == 0 and out["evaluated"] == 3 and out["top"] == first
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "a stored result is damaged (co2e_g_per_item = -" in lines[0] and "went on without" in lines[0]
    assert _sha(store) == before


def test_special_files_and_foreign_databases_are_not_stores(tmp_path):
    """/dev/null, a FIFO and a folder are refused before SQLite opens them (it would create PATH-journal beside
    them); another program's SQLite database is refused untouched."""
    journal = Path("/dev/null-journal")
    existed = journal.exists()
    targets = [tmp_path]
    if Path("/dev/null").exists():
        targets.append(Path("/dev/null"))
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "fifo.sqlite")
        targets.append(tmp_path / "fifo.sqlite")
    for t in targets:
        r = cli("population", "space:2", "--hardware", "t4", "--store", t, "--workers", "1", "--quiet")
        assert r.exit_code == 0 and f"warning: store {t} is a" in r.stderr and "not a regular file" in r.stderr, r.output
        r = cli("export", "--store", t)
        assert r.exit_code == 1 and "not a regular file" in r.stderr, r.output
    if not existed:
        assert not journal.exists() and not Path("/dev/null-wal").exists()
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as c:
        c.execute("CREATE TABLE accounts (id INTEGER, balance REAL)")
    before = _sha(other)
    with pytest.raises(StoreError, match="not a nas-analyzer results store"):
        Store.open(other)
    r = cli("population", "space:2", "--hardware", "t4", "--store", other, "--workers", "1", "--quiet")
    assert r.exit_code == 0 and "not a nas-analyzer results store" in r.stderr
    assert _sha(other) == before and {t for (t,) in sqlite3.connect(other).execute("SELECT name FROM sqlite_master")} == {"accounts"}


def test_second_analyze_reads_the_store(tmp_path, shipped):
    folder = shipped["resnet50"].parent
    store = tmp_path / "r.sqlite"
    a = cli("analyze", folder, "--store", store, "--format", "json")
    n = Store.open(store).conn.execute("SELECT count(*) FROM results").fetchone()[0]
    b = cli("analyze", folder, "--store", store, "--format", "json")
    # the 7 candidates, and the pair re-projected by the what-flips sweeps: all read back the second time, none added
    assert n > 7 and Store.open(store).conn.execute("SELECT count(*) FROM results").fetchone()[0] == n
    assert json.loads(a.stdout)["ranking"] == json.loads(b.stdout)["ranking"]
    h = cli("history", "--store", store, "--format", "json")
    assert [r["command"] for r in json.loads(h.stdout)] == ["analyze", "analyze"]
    e = cli("export", "--format", "csv", "--store", store, "--kind", "evaluation")
    assert e.exit_code == 0 and e.stdout.startswith("basis,batch,") and len(e.stdout.splitlines()) == n + 1
    p = cli("export", "--format", "parquet", "--store", store)
    assert p.exit_code == 2 and "--out" in p.stderr
    bogus = cli("export", "--kind", "bogus", "--store", store)
    assert bogus.exit_code == 2 and "expected one of evaluation, measurement" in bogus.stderr
    h = cli("history", "--store", store)
    assert "when (UTC)" in h.stdout and "command" in h.stdout and re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\dZ", h.stdout)
    # each run's target and options, so runs can be told apart
    assert "h100-sxm-calibrated fp16" in h.stdout and "world-ember-2022@2022;" in h.stdout
    assert "unlikely" in h.stdout and "undetermined" not in h.stdout  # the likelihood words the terminal uses
    from analyzer.report.store_text import target_and_options

    said = target_and_options(json.loads(cli("history", "--store", store, "--format", "json").stdout)[0]["args"])
    assert said.startswith("h100-sxm-calibrated fp16 graph batch 64; google-fleet, world-ember-2022@2022; PUE 1.1; 436")


def test_export_includes_measurements_and_reads_a_read_only_store(tmp_path, shipped):
    from analyzer.measure import store as mstore
    from analyzer.measure.record import Measurement

    folder = shipped["resnet50"].parent
    store = tmp_path / "r.sqlite"
    assert cli("analyze", folder, "--store", store, "--samples", "200", "--format", "json").exit_code == 0
    m = Measurement(model="m.onnx", sha256="ab", backend="ort", batch=1, provider="cpu", threads=1, opt_level="all", runtime_version="x",
                    cpu_model="cpu", session_creation_s=0.0, latency_s_median=0.01, latency_s_p10=0.01, latency_s_p90=0.01,
                    latency_s_ci95=(0.01, 0.01), ci_rel=0.01, converged=True, iterations=30, warmup_iterations=5,
                    throughput_per_s=100.0, energy_j_per_item=None, dynamic_energy_j_per_item=None, idle_power_w=None,
                    avg_power_w=None, energy_source="unavailable: test", notes=[])
    mfile = tmp_path / "m.jsonl"
    mstore.append(mfile, [m])
    store.chmod(0o444)
    tmp_path.chmod(0o555)
    try:
        r = cli("export", "--store", store, "--measurements", mfile, "--format", "json")
        assert r.exit_code == 0, r.output
        kinds = [row["kind"] for row in json.loads(r.stdout)]
        n = Store.open_readonly(store).conn.execute("SELECT count(*) FROM results").fetchone()[0]
        assert kinds.count("evaluation") == n > 7 and kinds.count("measurement") == 1 and kinds.count("run") == 1
        r = cli("export", "--kind", "measurement", "--measurements", mfile, "--format", "csv", "--store", store)
        assert r.exit_code == 0 and len(r.stdout.splitlines()) == 2
        assert cli("history", "--store", store).exit_code == 0
    finally:
        tmp_path.chmod(0o755)
        store.chmod(0o644)


def test_profiles_override_after_a_cached_run_gives_new_numbers(tmp_path, shipped):
    """The cache key covers the hardware profile's content: overriding it with --profiles must not read back."""
    folder = shipped["resnet50"].parent
    store = tmp_path / "r.sqlite"
    over = tmp_path / "p" / "hardware"
    over.mkdir(parents=True)
    text = (ROOT / "profiles" / "hardware" / "t4.toml").read_text().replace("value = 320", "value = 160")
    (over / "t4.toml").write_text(text)
    a = json.loads(cli("analyze", folder, "--store", store, "--hardware", "t4", "--dtype", "fp16", "--samples", "200",
                       "--format", "json").stdout)
    b = json.loads(cli("analyze", folder, "--store", store, "--hardware", "t4", "--dtype", "fp16", "--samples", "200",
                       "--profiles", tmp_path / "p", "--format", "json").stdout)
    ea = {p["model"]: p["energy_j_per_item"] for p in a["projections"]}
    eb = {p["model"]: p["energy_j_per_item"] for p in b["projections"]}
    assert ea != eb  # the halved bandwidth changed the projections: nothing was read back from the cache


def _report(tmp_path, shipped, hostile=False):
    folder = shipped["resnet50"].parent
    out = tmp_path / "out"
    r = cli("analyze", folder, "--out", out, "--no-store")
    assert r.exit_code == 0, r.output
    if hostile:
        data = json.loads((out / "analysis.json").read_text())
        for row in data["ranking"]:
            if row["name"] == "mobilenet_v2":
                row["name"] = "<script>alert(1)</script>"
        (out / "hostile.json").write_text(json.dumps(data))
        r = cli("report", out / "hostile.json", "--html", out / "hostile.html")
        assert r.exit_code == 0, r.output
        return out / "hostile.html"
    return out / "report.html"


def test_report_is_self_contained_with_all_plots(tmp_path, shipped):
    text = _report(tmp_path, shipped).read_text()
    for ident, figure in _figures(text).items():
        assert figure.count("<svg") == 1 and len(figure) > 5000, ident
    assert set(_figures(text)) == {"plot-tornado", "plot-pareto", "plot-breakeven", "plot-fourms", "plot-breakdown"}
    namespaces = ('xmlns="http://www.w3.org/2000/svg"', 'xmlns:xlink="http://www.w3.org/1999/xlink"')  # names, never fetched
    for ns in namespaces:
        text = text.replace(ns, "")
    assert "http://" not in text and "https://" not in text
    assert "<script" not in text and "<img" not in text
    assert "Report your footprint" in text and "Provenance" in text


def test_the_report_labels_every_chart(tmp_path, shipped):
    """Without a browser too: the same checks on the file as written."""
    html_path = _report(tmp_path, shipped)
    _check_figures(html_path.read_text(), json.loads((html_path.parent / "analysis.json").read_text()))


@pytest.mark.parametrize("outcome, p, words", [
    ("pays back", 0.97, "the search pays back (probability of a net saving 97%)"),
    ("does not pay back", 0.03, "the search does not pay back (probability of a net saving 3%)"),
    ("undetermined", 0.26, "the search may or may not pay back (undetermined: probability of a net saving 26%)"),
    ("never pays back", 0.0, "the search never pays back, as the NAS model saves nothing per item (probability of a net saving 0%)"),
])
def test_the_paste_ready_paragraph_reads_for_every_outcome(outcome, p, words):
    from analyzer.report.html import verdict_clause

    assert verdict_clause({"outcome": outcome, "p_net_saving": p}) == words


def test_hostile_name_is_text_not_script(tmp_path, shipped):
    text = _report(tmp_path, shipped, hostile=True).read_text()
    assert "<script>alert(1)</script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text


def _figures(html: str) -> dict[str, str]:
    """Each plot's figure element (inline SVG), by id."""
    return {m.group(1): m.group(0) for m in re.finditer(r'<figure id="(plot-[a-z]+)".*?</figure>', html, re.S)}


def _texts(figure: str) -> str:
    """The words a figure shows (its SVG text elements), one string."""
    return " ".join(re.sub(r"<[^>]+>", "", t) for t in re.findall(r"<text\b.*?</text>", figure, re.S))


def _check_figures(html: str, analysis: dict) -> None:
    """Legends, labels and reference lines of every chart, read from the page as a browser has it."""
    import html as htmllib

    figs = {k: htmllib.unescape(_texts(v)) for k, v in _figures(html).items()}
    tornado = figs["plot-tornado"]
    assert "break-even: no net saving" in tornado and "as stated (median net saving):" in tornado and "net saving over the horizon" in tornado
    assert any(k in tornado for k in ("saves over the whole range", "loses over the whole range", "the sign flips within the range"))
    for r in analysis["sensitivities"]:  # every row labelled with its two ends
        assert f"{r['net_low_kg']:,.0f} to {r['net_high_kg']:,.0f} kg" in tornado, r["name"]
    be = figs["plot-breakeven"]
    assert "baseline resnet50" in be and "NAS model incl. search cost" in be and "end of the horizon" in be
    assert "cumulative kgCO2e" in be and "items served" in be
    fm, f = figs["plot-fourms"], analysis["fourms"]
    p = {e["name"]: e for e in analysis["projections"]}
    base, nas = p["resnet50"], p[analysis["pair"]["nas"]]
    # the 4Ms as `fourm` defines them (account/fourms.py): Model the FLOPs ratio (10x), Machine the FLOPs per joule
    # ratio; their product is the projections' energy ratio, 1.84x
    model = (base["flops"] / base["batch"]) / (nas["flops"] / nas["batch"])
    assert f["model"] == pytest.approx(model, rel=1e-12) and f"{model:.3g}x" in fm
    energy = base["energy_j_per_item"] / nas["energy_j_per_item"]
    assert f["model"] * f["machine"] == pytest.approx(energy, rel=1e-12) and f"{f['machine']:.3g}x" in fm
    assert all(w in fm for w in ("Model", "Machine", "Mechanization", "Map", "CO2e: the product"))
    bd = figs["plot-breakdown"]
    classes = sorted({c for e in analysis["projections"] for c in e["detail"]["breakdown"]})
    assert "kernel class" in bd and all(c in bd for c in classes) and "time share of the forward" in bd
    legend_colours = re.findall(r"fill: (#[0-9a-f]{6})", _figures(html)["plot-breakdown"])
    assert len(set(legend_colours)) >= len(classes)  # one colour per class
    pareto = figs["plot-pareto"]
    assert "Pareto front" in pareto and "NAS model of the pair" in pareto and "latency per batch (ms)" in pareto


def _chromium():
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("CI installs Debian's chromium (.ci/run); it is missing")
        from conftest import LOUD

        LOUD.append("the HTML report was NOT rendered in a browser: Chromium is missing (bash tests/install_browser.sh)")
        pytest.skip("chromium is not installed (bash tests/install_browser.sh)")
    return exe


def _run_chromium(exe, tmp_path, html_path, *extra):
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path / 'chrome'}", "--enable-logging=stderr", "--v=0"]
    return subprocess.run([exe, *flags, *extra, html_path.as_uri()], capture_output=True, text=True, timeout=120)


def test_report_renders_in_headless_chromium(tmp_path, shipped):
    exe = _chromium()
    html_path = _report(tmp_path, shipped)
    dom = _run_chromium(exe, tmp_path, html_path, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert dom.stdout.count('class="plot"') == 5 and "Ranked candidates" in dom.stdout and 'id="plot-tornado"' in dom.stdout
    _check_figures(dom.stdout, json.loads((html_path.parent / "analysis.json").read_text()))
    assert "<details>" in dom.stdout and "<details open" not in dom.stdout  # provenance grouped, collapsed
    assert re.search(r"<ul class=\"notes\"><li>", dom.stdout) and "savings_g_per_item" not in dom.stdout.split("Provenance")[0]
    assert "net saving over the horizon (kgCO2e)" in dom.stdout
    assert not re.search(r"CONSOLE\(\d+\)|Uncaught|console\.error", dom.stderr), dom.stderr[-2000:]
    artifacts = ROOT / "ci-artifacts"
    artifacts.mkdir(exist_ok=True)
    shot = artifacts / "report.png"
    r = _run_chromium(exe, tmp_path, html_path, "--window-size=1200,5200", f"--screenshot={shot}")
    assert r.returncode == 0 and shot.stat().st_size > 50_000
    hostile = _report(tmp_path / "h", shipped, hostile=True)
    dom = _run_chromium(exe, tmp_path, hostile, "--dump-dom")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom.stdout and "<script>alert(1)" not in dom.stdout


def test_every_run_is_in_the_history_and_export_covers_each_kind(tmp_path, shipped):
    """Issue #28: profile, project, measure, analyze, population and plan-search each leave a run in the history;
    export gives every run, or one command's."""
    import onnx

    from analyzer.engine.store import default_path
    from onnx_builders import one_node

    store = tmp_path / "r.sqlite"
    r18 = shipped["resnet18"]
    for args in (("profile", r18), ("project", r18), ("analyze", r18.parent, "--samples", "200", "--no-sensitivity"),
                 ("population", "space:3", "--workers", "1"),
                 ("plan-search", "space:3", "--sample", "2", "--samples-per-candidate", "1000")):
        r = cli(*args, "--store", store, "--format", "json")
        assert r.exit_code == 0, r.output
    runs = json.loads(cli("history", "--store", store, "--format", "json").stdout)
    assert [r["command"] for r in runs] == ["plan-search", "population", "analyze", "project", "profile"]
    assert runs[-1]["summary"]["profiled"] == 1 and list(runs[-1]["summary"]["macs"].values())[0] > 1e9
    assert runs[-2]["args"]["hardware"] == "h100-sxm-calibrated" and runs[-2]["summary"]["projected"] == 1
    one = tmp_path / "relu.onnx"
    onnx.save(one_node("Relu", {"x": [1, 8]}, {"y": [1, 8]}), str(one))
    m = cli("measure", one, "--max-time", "0.3", "--meter", "none", "--store", tmp_path / "m.jsonl", "--format", "json")
    assert m.exit_code == 0, m.output
    assert Store.open_readonly(default_path()).runs(1)[0]["command"] == "measure"
    every = json.loads(cli("export", "--store", store, "--kind", "run", "--format", "json").stdout)
    assert sorted(r["command"] for r in every) == ["analyze", "plan-search", "population", "profile", "project"]
    only = json.loads(cli("export", "--store", store, "--kind", "project", "--format", "json").stdout)
    assert [r["command"] for r in only] == ["project"] and only[0]["kind"] == "run"
    csv_text = cli("export", "--store", store, "--kind", "plan-search", "--format", "csv").stdout
    assert "summary.co2e_kg" in csv_text.splitlines()[0] and len(csv_text.splitlines()) == 2
    assert cli("profile", r18, "--store", store, "--no-store").exit_code == 0
    assert len(Store.open_readonly(store).runs(None)) == 5  # --no-store: not recorded


@pytest.mark.extras
def test_export_writes_parquet_with_the_parquet_extra(tmp_path, shipped):
    from conftest import require_extra

    pq = require_extra("pyarrow.parquet", "NAS_ANALYZER_REQUIRE_PARQUET",
                       "parquet export was NOT checked: pyarrow is not installed (pip install -e '.[parquet]')")
    store = tmp_path / "r.sqlite"
    assert cli("project", shipped["resnet18"], "--store", store).exit_code == 0
    out = tmp_path / "runs.parquet"
    r = cli("export", "--format", "parquet", "--kind", "run", "--store", store, "--out", out)
    assert r.exit_code == 0, r.output
    rows = pq.read_table(out).to_pylist()
    assert len(rows) == 1 and rows[0]["command"] == "project" and rows[0]["summary.projected"] == 1


def test_report_refuses_an_input_whose_source_or_kind_is_not_text(tmp_path):
    """Found by the analysis door's fuzzing: an input's optional `source` (a list) or `kind` (a number) reached the HTML
    provenance table and raised TypeError; the schema now checks an input's optional fields where present."""
    import json

    from analyzer.decide.record_schema import check_analysis
    from analyzer.errors import UsageError

    from cli_helpers import cli

    out = tmp_path / "a"
    r = cli("analyze", "--out", out, "-q")
    assert r.exit_code == 0, r.output
    rec = json.loads((out / "analysis.json").read_text())
    check_analysis(rec)
    for key, bad in (("source", ["x"]), ("kind", 1.5), ("unit", {"a": 1})):
        broken = json.loads(json.dumps(rec))
        broken["projections"][0]["inputs"][0][key] = bad
        with pytest.raises(UsageError, match=rf"projections\[0\]\.inputs\[0\]\.{key}"):
            check_analysis(broken)
        f = tmp_path / f"bad-{key}.json"
        f.write_text(json.dumps(broken))
        r = cli("report", f, "--html", tmp_path / "o.html")
        assert r.exit_code != 0 and "must be text" in r.output and len(r.output.strip().splitlines()) == 1, r.output
