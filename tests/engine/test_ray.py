"""The population's tasks on a local Ray cluster (issue #17): the same results as the process pool, and a
killed Ray worker costs nothing (its task is retried; every candidate is stored once). Needs the ray extra;
CI's second phase installs it (NAS_ANALYZER_REQUIRE_RAY=1 makes a missing Ray a failure there)."""

import os
import signal
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from conftest import require_extra

ray = require_extra("ray", "NAS_ANALYZER_REQUIRE_RAY", "the Ray executor tests did NOT run: ray is not installed "
                    "(pip install -e '.[ray]')")

from analyzer.errors import UsageError  # noqa: E402
from analyzer.load.sources import read  # noqa: E402
from analyzer.project.observations import read_observations  # noqa: E402
from analyzer.target import TargetRequest, resolve_target as resolve_placement  # noqa: E402
from analyzer.engine import LocalExecutor, RayExecutor  # noqa: E402
from analyzer.engine.population import run_population  # noqa: E402
from analyzer.profiles import load_profiles  # noqa: E402
from analyzer.engine.store import Store  # noqa: E402

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def cluster():
    # a local cluster whose one node also plays two device kinds of a fleet
    ray.init(num_cpus=2, resources={"fleet:a": 1, "fleet:b": 1}, include_dashboard=False, log_to_driver=False)
    ex = RayExecutor(None, workers=2)
    yield ex
    ray.shutdown()


@pytest.fixture(scope="module")
def placement():
    return resolve_placement(load_profiles(), TargetRequest("h100", dtype="fp16", runtime="graph", batch=1, pue=1.1, grid=100.0))


def _plain(records):
    return sorted(({k: v for k, v in r.items() if k != "host"} for r in records), key=lambda r: r["name"])


def test_ray_gives_the_process_pools_results(cluster, placement, tmp_path):
    local = run_population(read("space:48:9"), placement, LocalExecutor(1))
    on_ray = run_population(read("space:48:9"), placement, cluster, Store.open(tmp_path / "s.sqlite"), "v")
    assert on_ray.executor == "ray" and on_ray.workers == 2 and not on_ray.errors
    assert _plain(on_ray.records) == _plain(local.records)


def test_ray_gives_the_process_pools_results_for_nb201_cells(cluster, placement):
    """NB201 networks built in the IR and memoised per segment in each Ray worker: the same records as a pool of 2."""
    local = run_population(read("nb201:300:4"), placement, LocalExecutor(2))
    on_ray = run_population(read("nb201:300:4"), placement, cluster)
    assert not on_ray.errors and len(on_ray.records) == 300
    assert _plain(on_ray.records) == _plain(local.records)


def _ray_task_pids() -> list[int]:
    """Ray workers running our task (Ray titles a busy worker's process ray::<function>; the shape-inference
    worker each forks inherits the title, and is left out by its parent)."""
    ray_procs = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                cmd = (d / "cmdline").read_bytes()
                if cmd.startswith(b"ray::"):
                    ray_procs[int(d.name)] = (cmd, int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]))
            except (OSError, ValueError, IndexError):
                pass
    return [pid for pid, (cmd, parent) in ray_procs.items() if cmd.startswith(b"ray::evaluate_chunk") and parent not in ray_procs]


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds Ray's workers through /proc")
def test_a_killed_ray_worker_loses_and_duplicates_nothing(cluster, placement, tmp_path):
    n = 160
    db_path = tmp_path / "s.sqlite"
    result: dict = {}

    def go():
        result["run"] = run_population(read(f"space:{n}:4"), placement, cluster, Store.open(db_path), "v", chunk=8)

    t = threading.Thread(target=go)
    t.start()
    killed = None
    deadline = time.monotonic() + 60
    while killed is None and time.monotonic() < deadline and t.is_alive():
        pids = _ray_task_pids()
        if pids:
            os.kill(pids[0], signal.SIGKILL)
            killed = pids[0]
        time.sleep(0.05)
    t.join(300)
    assert killed is not None, "no Ray worker was seen running a task"
    run = result["run"]
    assert not run.errors and len(run.records) == n == run.evaluated
    with sqlite3.connect(db_path) as c:
        rows = c.execute("SELECT model, count(*) FROM results WHERE kind='evaluation' GROUP BY key").fetchall()
    assert len(rows) == n and all(k == 1 for _, k in rows) and len({m for m, _ in rows}) == n
    assert _plain(run.records) == _plain(run_population(read(f"space:{n}:4"), placement, LocalExecutor(2)).records)


def test_a_fleet_measures_on_each_kind_and_calibrate_takes_one_kind(cluster, tmp_path):
    """`measure --on KIND` runs the product's measurer on a node of each kind (here two resources of the
    local node), tags every record with it, and calibration reads one kind's records."""
    import json

    import numpy as np
    import onnx
    from onnx import helper

    from cli_helpers import cli
    from onnx_builders import init, model, vi

    paths = []
    for width in (32, 64):
        m = model([helper.make_node("MatMul", ["x", "w"], ["y"])], [vi("x", [1, 64])], [vi("y", None)],
                  [init("w", np.ones((64, width), np.float32))])
        paths.append(tmp_path / f"mm{width}.onnx")
        onnx.save(m, str(paths[-1]))
    store = tmp_path / "m.jsonl"
    r = cli("measure", *paths, "--batch", "1,4", "--on", "fleet:a", "--on", "fleet:b", "--max-time", "0.2", "--meter", "none",
            "--store", store, "--format", "json")
    assert r.exit_code == 0, r.output
    recs = json.loads(r.stdout)
    assert len(recs) == 8 and {x["node"]["fleet_resource"] for x in recs} == {"fleet:a", "fleet:b"}
    assert all(x["node"]["host"] == os.uname().nodename and x["latency_s_median"] > 0 for x in recs)
    assert len(read_observations(store, None, "ort", "fp32", None, "fleet:a")) == 4
    with pytest.raises(UsageError, match="kinds there: "):
        read_observations(store, None, "ort", "fp32", None, "fleet:zzz")
    bad = cli("measure", paths[0], "--on", "accelerator_type:H100", "--meter", "none", "--no-store")
    assert bad.exit_code == 2 and "no node of the cluster offers" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
