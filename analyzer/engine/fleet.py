"""Measuring on a fleet of devices through Ray (issue #17): one `measure` task per model and device kind,
placed by a Ray resource that only nodes of that kind offer, run by the product's own measurer there, and
tagged with the node it ran on, so one command measures a population on several kinds of device and each
kind's measurements calibrate its profile (`calibrate --device-kind`).

A device kind is a Ray resource name: Ray gives every node with an NVIDIA GPU `accelerator_type:<TYPE>`
(e.g. accelerator_type:H100); other kinds are declared when a node joins, e.g.
`ray start --address HEAD --resources '{"cpu:epyc-7b13": 1}'`. A task asks for the whole unit (1) of the
kind, so two measurements never share a device and disturb each other. Models travel as bytes (nodes share
no file system); models with external weights are refused here.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from ..errors import AnalyzerError, UsageError, naming, param
from ..load.onnx_graph import stored_external_weights


def node_hardware(provider: str, device: int = 0) -> dict[str, str]:
    """What this node is: host name, CPU model and, on CUDA, the GPU's name (NVML), for tagging results."""
    from ..measure.record import cpu_model

    out = {"host": os.uname().nodename, "cpu_model": cpu_model(), "device": cpu_model()}
    if provider.startswith(("CUDA", "Tensorrt")):
        try:
            import pynvml

            pynvml.nvmlInit()
            name = pynvml.nvmlDeviceGetName(pynvml.nvmlDeviceGetHandleByIndex(device))
            out["device"] = name.decode() if isinstance(name, bytes) else str(name)
        except Exception:  # noqa: BLE001 - no NVML here: the CPU names the node
            pass
    return out


def measure_task(name: str, data: bytes, batches: list[int], kind: str, settings: dict[str, Any]) -> dict[str, Any]:
    """Runs on the fleet's node: the model's bytes to a local file, the product's measure_onnx for each batch,
    each record tagged with this node and the kind it was placed by. Returns {'records', 'errors'}."""
    from ..errors import MeterUnavailable
    from ..measure.select import meter_from_spec
    from ..measure.onnx_measure import OrtSettings
    from ..measure.ort_runner import resolve_provider

    provider = resolve_provider(settings.get("provider", "cpu"))
    node = node_hardware(provider, settings.get("device", 0)) | {"fleet_resource": kind}
    meter = meter_from_spec(settings.get("meter", "auto"), provider, settings.get("device", 0))
    ort = OrtSettings(provider=provider, threads=settings.get("threads"), opt_level=settings.get("opt_level", "all"),
                      max_time_s=settings.get("max_time_s", 30.0), target_ci=settings.get("target_ci", 0.02))
    try:
        records, errors = _measure_all(name, data, batches, kind, node, settings.get("dims") or {}, ort, meter)
    finally:  # a sampling thread or a tool's process (tegrastats, powermetrics) must not outlive the task
        if meter is not None and not isinstance(meter, MeterUnavailable):  # no meter on this node: nothing to close
            meter.close()
    return {"records": records, "errors": errors}


def _measure_all(name, data, batches, kind, node, dims, ort, meter) -> tuple[list[dict[str, Any]], list[str]]:
    """(measurement dicts tagged with this node, errors) of `name` (its ONNX bytes `data`) at each batch."""
    from ..measure.onnx_measure import measure_onnx

    records, errors = [], []
    with tempfile.TemporaryDirectory(prefix="nas-analyzer-fleet-") as tmp:
        path = Path(tmp) / f"{name}.onnx"
        path.write_bytes(data)
        for b in batches:
            try:
                m = measure_onnx(path, b, dims=dims, meter=meter, settings=ort)
                d = m.to_dict()
                d["model"] = name
                d["node"] = node
                records.append(d)
            except AnalyzerError as e:
                errors.append(f"{str(naming(e, name))} (batch {b}, on {node['host']}, {kind})")
    return records, errors


def _require_kinds(ray: Any, kinds: list[str]) -> None:
    offered = ray.cluster_resources()
    missing = [k for k in kinds if offered.get(k, 0) < 1]
    if missing:
        have = sorted(k for k in offered if not k.startswith("node:") and k not in ("CPU", "GPU", "memory", "object_store_memory"))
        raise UsageError(f"{param('on')} {', '.join(missing)}: no node of the cluster offers this resource (a task would wait "
                         f"forever); offered: {', '.join(have) or 'only CPU/GPU/memory'}")


def measure_fleet(paths: list[Path], batches: list[int], kinds: list[str], settings: dict[str, Any],
                  address: str | None = None) -> tuple[list[dict[str, Any]], list[str]]:
    """Each model measured once on a node of each kind: (measurement dicts tagged with 'node', errors)."""
    from .executors import RayExecutor

    if not kinds:
        raise UsageError(f"{param('on')}: name at least one device kind (a Ray resource)")
    ex = RayExecutor(address)
    ray = ex.ray
    _require_kinds(ray, kinds)
    models = []
    for p in paths:
        try:
            data = p.read_bytes()
        except FileNotFoundError:
            raise UsageError(f"{p}: no such file") from None
        except OSError as e:
            raise UsageError(f"{p}: cannot be read ({e.strerror})") from None
        if b"location" in data and stored_external_weights(p):
            raise UsageError(f"{p}: its weights are external data, which cannot travel to the fleet's nodes; "
                             "save the model with its weights inline")
        models.append((p.stem, ray.put(data)))
    pending = []
    for kind in kinds:
        task = ray.remote(num_cpus=0, resources={kind: 1}, max_retries=1)(measure_task)
        for name, ref in models:
            pending.append(task.remote(name, ref, batches, kind, settings))
    records, errors = [], []
    for out in ray.get(pending):
        records += out["records"]
        errors += out["errors"]
    return records, errors
