"""The measurement record: raw SI numbers with the settings that produced them (serialisable)."""

from __future__ import annotations

import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Measurement:
    model: str
    sha256: str
    backend: str  # onnxruntime | torch
    batch: int
    provider: str
    threads: int | None
    opt_level: str
    runtime_version: str
    cpu_model: str
    session_creation_s: float
    latency_s_median: float
    latency_s_p10: float
    latency_s_p90: float
    latency_s_ci95: tuple[float, float]
    ci_rel: float
    converged: bool
    iterations: int
    warmup_iterations: int
    throughput_per_s: float  # items per second at the median latency
    energy_j_per_item: float | None
    dynamic_energy_j_per_item: float | None
    idle_power_w: float | None
    avg_power_w: float | None
    energy_source: str  # meter name, or "unavailable: <reason>"
    dims: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    node: dict[str, str] = field(default_factory=dict)  # where a fleet measured it: host, device, fleet_resource
    measured_at: str = ""  # ISO 8601 UTC time of the measurement ("" in records written before it was kept)
    # how the energy was obtained: "measured" (a counter or power sensor) or "estimated" (a model: its method and
    # band are given and the joules are never shown as measured); "" in records written before it was kept
    energy_provenance: str = ""
    energy_method: str = ""
    energy_j_per_item_band: list[float] | None = None  # [low, high] around energy_j_per_item, for an estimate
    energy_parts_j_per_item: dict[str, float] = field(default_factory=dict)  # cpu, dram, ... where the meter splits
    energy_attribution: str = ""  # which devices, what share of a shared GPU, and how that was decided
    # `measure --processes N`: the median over N fresh processes, each process's median, and the standard deviation of
    # their logs (what a session's warm-up, placement and neighbours move; one process's CI cannot see it)
    processes: int = 1
    latency_s_process_medians: list[float] = field(default_factory=list)
    latency_log_sigma_between: float | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["latency_s_ci95"] = list(self.latency_s_ci95)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Measurement":
        return cls(**{**d, "latency_s_ci95": tuple(d["latency_s_ci95"])})

    @classmethod
    def from_checked(cls, d: Any, where: str) -> "Measurement":
        """A record read from a file: every field typed and in range (RECORD), fields a newer tool added left out;
        else a UsageError naming `where` and the field."""
        from ..checks import Opt, check
        from ..errors import UsageError

        if not isinstance(d, dict):
            raise UsageError(f"{where}: not a measurement record (a JSON object)")
        missing = [k for k in RECORD.fields if k not in d and not isinstance(RECORD.fields[k], Opt)]
        if missing:  # a field the record cannot be without (an optional one missing reads as not measured: None)
            raise UsageError(f"{where}: not a measurement record: {', '.join(missing[:3])} missing")
        try:
            check({k: d.get(k) for k in RECORD.fields}, RECORD, "")
            for k, spec in OPTIONAL.items():
                if d.get(k) is not None:
                    check(d[k], spec, k)
        except UsageError as e:
            raise UsageError(f"{where}: {e.message}") from None
        if len(d["latency_s_ci95"]) != 2:
            raise UsageError(f"{where}: latency_s_ci95 must be [low, high]")
        if d.get("energy_j_per_item") == 0 and d.get("energy_provenance") != "estimated":
            raise UsageError(f"{where}: energy_j_per_item 0 J measured: a stuck or clamped counter (older versions stored "
                             "one as 0 J); measure it again or remove the line")
        known = {f for f in cls.__dataclass_fields__}
        kept = {k: v for k, v in d.items() if k in known and not (v is None and k in OPTIONAL)}
        return cls.from_dict({**{k: None for k in RECORD.fields if k not in d}, **kept})  # the optional ones missing: None

    def key(self) -> tuple:
        """What makes two measurements comparable: same model bytes and settings on the same machine."""
        return (self.sha256, self.backend, self.batch, self.provider, self.threads, self.opt_level,
                self.runtime_version, self.cpu_model, tuple(sorted(self.dims.items())))


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def now_utc() -> str:
    """The time of a measurement, ISO 8601 in UTC to the second."""
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def _schema():
    from ..checks import BOOL, TEXT, List, Map, Num, Obj, Opt
    from .meters import LIMIT_MARGIN, POWER_CEILING_W

    seconds, watts = Num(0, 1e7), Num(0, POWER_CEILING_W * LIMIT_MARGIN)
    joules = Num(0, 1e9)  # per item: a forward of the largest model on the largest machine is some kJ
    record = Obj({"model": TEXT, "sha256": TEXT, "backend": TEXT, "batch": Num(1, 1 << 20, integer=True), "provider": TEXT,
                  "threads": Opt(Num(1, 1 << 16, integer=True)), "opt_level": TEXT, "runtime_version": TEXT, "cpu_model": TEXT,
                  "session_creation_s": seconds, "latency_s_median": Num(1e-12, 1e7), "latency_s_p10": seconds,
                  "latency_s_p90": seconds, "latency_s_ci95": List(seconds), "ci_rel": Num(0, 1e6), "converged": BOOL,
                  "iterations": Num(0, 1e15, integer=True), "warmup_iterations": Num(0, 1e15, integer=True),
                  "throughput_per_s": Num(0, 1e15), "energy_j_per_item": Opt(joules),
                  "dynamic_energy_j_per_item": Opt(Num(-1e9, 1e9)),  # the busy minus idle share: noise can make it < 0
                  "idle_power_w": Opt(watts), "avg_power_w": Opt(watts), "energy_source": TEXT})
    optional = {"dims": Map(Num(1, 1 << 31, integer=True)), "notes": List(TEXT), "node": Map(TEXT), "measured_at": TEXT,
                "energy_provenance": TEXT, "energy_method": TEXT, "energy_j_per_item_band": List(joules),
                "energy_parts_j_per_item": Map(joules), "energy_attribution": TEXT}
    return record, optional


RECORD, OPTIONAL = _schema()
