"""Tracking a search that runs on a cluster (issue #37).

Ray: `with track_ray("search") as run:` places one small actor on every alive node (no CPU reserved); each reads its
node's meters (by default measure/track_meters.py's selection, the estimate over the raylet's process tree: every Ray
worker of the node). The driver's sampler polls the actors at its interval and timestamps each reading with its own
clock when the reply arrives, so the nodes' clocks never place a reading in time (offsets cannot skew it; the error is
at most one round trip). Each node's clock offset from the driver (its time minus the midpoint of a round trip, the
best of 5) is measured at the start and said in the run's notes. Each node is one meter of the run, `node:<host>`, its
meters its parts; spans attribute the node meters as any other (a trial may declare the nodes it ran on).

SLURM: each node of a job runs `nas-analyzer track --log DIR/...` (srun runs one per node); the logs carry
SLURM_JOB_ID and the node's name, and `merge_logs` (engine/track_merge.py) joins a job's logs into one run: each node's meters renamed
`<host>:<meter>`, the readings merged on one timeline (nodes are taken as NTP-synchronised: SLURM has no clock of its
own; a node's energy between two of its readings is placed over the merged interval it spans).
"""

from __future__ import annotations

import dataclasses
import os
import socket
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from ..errors import MeterUnavailable, UsageError, param
from ..measure.meters import EnergyMeter
from ..measure.track import describe
from .track import Run, TrackHooks, track


class NodeMeters:
    """The actor's body: cumulative joules of a node's meters, read when asked."""

    def __init__(self, factory: Callable[[], dict[str, EnergyMeter]] | None = None) -> None:
        if factory is None:
            from ..measure.track_meters import track_meters

            self.meters = track_meters("auto", root=os.getppid())[0]  # the raylet: every Ray worker of this node
        else:
            self.meters = factory()
        self.last = {k: m.snapshot() for k, m in self.meters.items()}
        self.total = {k: 0.0 for k in self.meters}

    def info(self) -> dict[str, Any]:
        return {"host": socket.gethostname(), "meters": {k: describe(m) for k, m in self.meters.items()}}

    def now(self) -> float:
        return time.time()

    def read(self) -> dict[str, float]:
        for k, m in self.meters.items():
            snap = m.snapshot()
            self.total[k] += m.joules_between(self.last[k], snap)
            self.last[k] = snap
        return dict(self.total)


class RayNodeMeter(EnergyMeter):
    """A node's meters as one meter of the driver's run: a snapshot is the actor's cumulative joules by meter."""

    min_window_s = 0.0

    def __init__(self, actor: Any, info: dict[str, Any]) -> None:
        import ray

        self.ray, self.actor = ray, actor
        metas = list(info["meters"].values())
        self.source = f"ray node {info['host']}: " + ", ".join(m["source"] for m in metas)
        estimated = [m for m in metas if m["provenance"] == "estimated"]
        self.provenance = "estimated" if estimated else "measured"
        self.method = "; ".join(m["method"] for m in estimated)
        bands = [m["band"] for m in estimated if m["band"]]
        self.band = (min(b[0] for b in bands), max(b[1] for b in bands)) if bands else None
        self.attribution = "; ".join(m["attribution"] for m in metas if m["attribution"])
        self.last_totals: dict[str, float] = {}
        self.gpus = sum(k.startswith("gpu") for k in info["meters"])  # the chips this node's meter reads

    def snapshot(self) -> dict[str, float]:
        self.last_totals = self.ray.get(self.actor.read.remote(), timeout=10)
        return self.last_totals

    def joules_between(self, a: dict[str, float], b: dict[str, float]) -> float:
        return sum(self.joules_by_part(a, b).values())

    def joules_by_part(self, a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
        return {k: max(b[k] - a.get(k, 0.0), 0.0) for k in b}


def clock_offset(actor: Any, ray: Any, tries: int = 5) -> tuple[float, float]:
    """(node time - driver time, the round trip) from the shortest of `tries` round trips (Cristian's algorithm)."""
    best = (0.0, float("inf"))
    for _ in range(tries):
        t0 = time.time()
        t_node = ray.get(actor.now.remote(), timeout=10)
        t1 = time.time()
        if t1 - t0 < best[1]:
            best = (t_node - (t0 + t1) / 2, t1 - t0)
    return best


@contextmanager
def track_ray(name: str, *, meter_factory: Callable[[], dict[str, EnergyMeter]] | None = None,
              **options: Any) -> Iterator[Run]:
    """track() with one meter per alive node of the Ray cluster this process is connected to (ray.init first).
    `meter_factory` (picklable) builds a node's meters in its actor; tests pass replay meters."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    if not ray.is_initialized():
        raise UsageError(f"{param('ray')}: connect to the Ray cluster first (ray.init)")
    remote = ray.remote(num_cpus=0)(NodeMeters)
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    actors = [remote.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)).remote(meter_factory)
              for n in nodes]
    try:
        infos = ray.get([a.info.remote() for a in actors], timeout=60)
    except Exception as e:  # noqa: BLE001 - an actor that cannot read its node's meters
        for a in actors:
            ray.kill(a)
        raise MeterUnavailable(f"a Ray node's meters could not be read: {e}") from None
    meters: dict[str, EnergyMeter] = {}
    notes = []
    for i, (a, info, n) in enumerate(zip(actors, infos, nodes)):
        key = f"node:{info['host']}" if f"node:{info['host']}" not in meters else f"node:{info['host']}#{i}"
        meters[key] = RayNodeMeter(a, info)
        offset, rtt = clock_offset(a, ray)
        notes.append(f"{key} (Ray node {n['NodeID'][:12]}): clock offset {offset * 1e3:+.2f} ms (round trip "
                     f"{rtt * 1e3:.2f} ms); readings are placed on the driver's clock")
    try:
        from ..checks import check_instance

        hooks = check_instance("hooks", options.pop("hooks", TrackHooks()), TrackHooks, "a TrackHooks")
        hooks = dataclasses.replace(hooks, meters=meters)
        with track(name, hooks=hooks, **options) as run:
            run.log.write({"k": "note", "notes": notes})  # summarise reads them into the run's notes
            yield run
    finally:
        for a in actors:
            ray.kill(a)
