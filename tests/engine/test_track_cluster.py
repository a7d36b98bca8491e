"""The tracker on a cluster (issue #37): a local Ray cluster of two nodes, one meter actor on each; a SLURM job's
per-node logs merged by job id."""

import time

import pytest

import analyzer
from analyzer import SiteRequest, TrackHooks
from analyzer.errors import UsageError
from analyzer.engine.track_merge import merge_logs
from analyzer.measure.meters import ReplayMeter
from fakes import FakeClock


def node_watts():
    """In a node's actor: a replay meter drawing 10 W on the wall clock."""
    t0 = time.time() - 1
    return {"cpu": ReplayMeter([(t0, 0.0), (t0 + 1e6, 10.0 * 1e6)], clock=time.time)}


@pytest.mark.ray
@pytest.mark.slow
def test_a_two_node_ray_cluster_gives_the_sum_of_its_nodes(tmp_path):
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    cluster.add_node(num_cpus=1)
    ray.init(address=cluster.address, log_to_driver=False)
    import sys

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the actors build node_watts from its code
    try:
        from analyzer.engine.track_cluster import track_ray

        with track_ray("ray-search", meter_factory=node_watts, store=False, log=tmp_path / "ray.jsonl",
                       site=SiteRequest(pue=1.0, grid=100.0), hooks=TrackHooks(interval_s=0.05)) as run:
            with run.trial("t0"):
                time.sleep(1.0)
    finally:
        ray.shutdown()
        cluster.shutdown()
    r = run.result
    assert len(r.energy_j) == 2 and all(k.startswith("node:") for k in r.energy_j)
    assert r.total_energy_j == pytest.approx(sum(r.energy_j.values()))  # the run is the sum of its nodes
    assert r.parts_j.keys() == r.energy_j.keys()  # each node's own meters, as its parts
    for k, j in r.energy_j.items():
        assert j == pytest.approx(10.0 * r.seconds, rel=0.05)  # 10 W each, over the run's window
    assert sum(1 for n in r.notes if "clock offset" in n) == 2


def _node_log(path, host, job, watts, clock, ended=True):
    clock.t = 1000.0
    m = ReplayMeter([(1000.0, 0.0), (1e6, watts * (1e6 - 1000))], clock=clock)
    with analyzer.track("slurm-job", hooks=TrackHooks(meters={"cpu": m}, clock=clock, thread=False), store=False, log=path,
                        site=SiteRequest(pue=1.2, grid=300.0)) as run:
        for _ in range(4):
            clock.sleep(2.5)
            run.sampler.tick()
    import json

    lines = path.read_text().splitlines()
    start = json.loads(lines[0]) | {"host": host, "slurm_job_id": job}
    body = [ln for ln in lines[1:] if ended or json.loads(ln)["k"] != "end"]
    path.write_text("\n".join([json.dumps(start), *body]) + "\n")


def test_slurm_logs_merge_by_job_id(tmp_path):
    clk = FakeClock()
    _node_log(tmp_path / "a.jsonl", "n1", "77", 100.0, clk)
    _node_log(tmp_path / "b.jsonl", "n2", "77", 300.0, clk)
    _node_log(tmp_path / "c.jsonl", "n3", "78", 999.0, clk)
    r = merge_logs(sorted(tmp_path.glob("*.jsonl")), job_id="77")
    assert r.energy_j == {"n1:cpu": pytest.approx(1000.0), "n2:cpu": pytest.approx(3000.0)}
    assert r.status == "complete" and r.seconds == pytest.approx(10.0)
    assert r.account.facility_energy_kwh == pytest.approx(4000 * 1.2 / 3.6e6)
    with pytest.raises(UsageError, match="several SLURM jobs"):
        merge_logs(sorted(tmp_path.glob("*.jsonl")))
    (tmp_path / "c.jsonl").unlink()
    assert analyzer.load_run(tmp_path).energy_j == r.energy_j  # a folder: the job's logs
    (tmp_path / "b.jsonl").unlink()
    _node_log(tmp_path / "b.jsonl", "n2", "77", 300.0, clk, ended=False)
    assert merge_logs(sorted(tmp_path.glob("*.jsonl"))).status == "incomplete"


@pytest.mark.ray
@pytest.mark.slow
def test_a_local_ray_node_is_read_with_the_default_meters(tmp_path):
    """Real meters (RAPL or the estimate over the raylet's process tree: the Ray workers) and real Ray tasks."""
    ray = pytest.importorskip("ray")
    from analyzer.engine.track_cluster import track_ray

    @ray.remote
    def busy(seconds):
        t, x = time.time() + seconds, 0
        while time.time() < t:
            x += 1
        return x

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        ray.get(busy.remote(0.01))  # the workers up before the run
        with track_ray("ray-default", store=False, log=tmp_path / "d.jsonl", site=SiteRequest(pue=1.0, grid=100.0)) as run:
            time.sleep(0.5)
            with run.trial("busy"):
                ray.get([busy.remote(1.0) for _ in range(2)])
            time.sleep(0.5)
    finally:
        ray.shutdown()
    r = run.result
    (node,) = r.meters
    assert r.meters[node]["provenance"] in ("estimated", "measured") and r.spans[0]["energy_j"] > 0
    busy_w = r.spans[0]["energy_j"] / r.spans[0]["seconds"]
    idle_w = sum(r.idle_j.values()) / (r.seconds - r.spans[0]["seconds"])
    assert busy_w > idle_w  # two workers spinning draw more than the node at rest


def test_merged_gpu_nodes_count_their_chips(tmp_path):
    import json

    clk = FakeClock()
    for host in ("n1", "n2"):
        _node_log(tmp_path / f"{host}.jsonl", host, "9", 300.0, clk)
        lines = (tmp_path / f"{host}.jsonl").read_text().splitlines()
        start = json.loads(lines[0])
        start["meters"] = {"gpu0": start["meters"]["cpu"], "gpu1": start["meters"]["cpu"]}
        start["chips"] = 2
        body = [json.dumps(json.loads(ln) | ({"j": {"gpu0": json.loads(ln)["j"]["cpu"] / 2, "gpu1": json.loads(ln)["j"]["cpu"] / 2}}
                                             if json.loads(ln)["k"] == "r" else {})) for ln in lines[1:]]
        (tmp_path / f"{host}.jsonl").write_text("\n".join([json.dumps(start), *body]) + "\n")
    r = merge_logs(sorted(tmp_path.glob("*.jsonl")))
    assert r.chips == 4 and r.total_energy_j == pytest.approx(6000.0)
    from analyzer.account.tracked_run import measured_search_cost

    sc = measured_search_cost(r)  # facility kW per chip-hour: 300 W per node over its 2 GPUs, x PUE 1.2
    assert sc.kw_per_chip_hour == pytest.approx(0.150 * 1.2)
