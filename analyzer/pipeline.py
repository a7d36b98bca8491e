"""Steps that chain the pure pieces: candidates from model files (profile -> project), accuracy tables,
and NAS costs from presets or runs. Each returns plain records."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from .carbon import energy_kwh, footprint, operational_co2e_kg, place
from .errors import AnalyzerError, UsageError
from .manifest import MANIFEST, read_manifest
from .profile import profile_onnx
from .profiles import DatacenterProfile, HardwareProfile, ProfileSet, RegionProfile, RegionYear, projection_defaults
from .project import Projection, project, resolve_params
from .rank import Candidate


@dataclass(frozen=True)
class Target:
    hardware: HardwareProfile
    dtype: str
    runtime: str
    batch: int
    pue: float
    grid_gco2e_per_kwh: float
    place_inputs: list
    utilization: float = 1.0


def project_models(paths: list[Path], target: Target, store=None, profiles_ver: str = "",
                   advance=None) -> tuple[list[Projection], list[str]]:
    """Project each model; failures are collected as one-line messages so the others still count. With a
    store, a projection of the same file content, target, profiles and tool version is read back instead."""
    from dataclasses import replace

    from .load.hash_cache import file_sha256
    from .store import result_key

    params = resolve_params(target.hardware, target.dtype, target.runtime, projection_defaults())
    settings = {"hardware": target.hardware.name, "dtype": target.dtype, "runtime": target.runtime, "batch": target.batch,
                "pue": target.pue, "grid_gco2e_per_kwh": target.grid_gco2e_per_kwh, "utilization": target.utilization}
    out, errors, new_rows = [], [], []
    for path in paths:
        if advance is not None:
            advance(path.name)
        try:
            key = None
            if store is not None and path.is_file():
                sha = file_sha256(path)
                key = result_key("projection", sha, settings, profiles_ver)
                hit = store.get("projection", key)
                if hit is not None:
                    out.append(replace(Projection.from_dict(hit), model=str(path)))
                    continue
            prof = profile_onnx(path, batch=target.batch, per_op=True)
            p = project(prof, target.hardware, params, target.runtime, target.dtype, pue=target.pue,
                        grid_gco2e_per_kwh=target.grid_gco2e_per_kwh, utilization=target.utilization,
                        place_inputs=target.place_inputs)
            out.append(p)
            if key is not None:
                new_rows.append(("projection", key, str(path), prof.sha256, settings, profiles_ver, p.to_dict()))
        except AnalyzerError as e:
            msg = str(e)
            errors.append(msg if msg.startswith(str(path)) else f"{path}: {msg}")
    if store is not None and new_rows:
        store.put_many(new_rows)
    return out, errors


def accuracy_from_manifests(paths: list[Path]) -> tuple[dict[str, float], dict[str, str]]:
    """model file stem -> top-1 %, and -> role, from the manifests of the folders the files are in."""
    acc: dict[str, float] = {}
    roles: dict[str, str] = {}
    for folder in {p.parent for p in paths} | {p.parent.parent for p in paths}:
        m = folder / MANIFEST
        if m.is_file():
            for e in read_manifest(m):
                if e.top1_accuracy_pct is not None:
                    acc[e.file.stem] = e.top1_accuracy_pct
                roles[e.file.stem] = e.role
    return acc, roles


def accuracy_from_csv(path: Path, names: set[str]) -> dict[str, float]:
    """CSV with columns model, accuracy (top-1 %). Rows name candidates by file stem."""
    out: dict[str, float] = {}
    try:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            if not reader.fieldnames or not {"model", "accuracy"} <= set(reader.fieldnames):
                raise UsageError(f"--accuracy {path}: needs columns model, accuracy")
            for i, row in enumerate(reader, start=2):
                name = Path(row["model"] or "").stem
                if name not in names:
                    raise UsageError(f"--accuracy {path}: row {i}: unknown model '{row['model']}'; candidates: {', '.join(sorted(names))}")
                try:
                    v = float(row["accuracy"])
                except (TypeError, ValueError):
                    raise UsageError(f"--accuracy {path}: row {i}: accuracy '{row['accuracy']}' is not a number") from None
                if not 0 <= v <= 100:
                    raise UsageError(f"--accuracy {path}: row {i}: accuracy {v:g} is outside 0..100 (top-1 %)")
                out[name] = v
    except FileNotFoundError:
        raise UsageError(f"--accuracy {path}: no such file") from None
    return out


def candidates(projections: list[Projection], accuracy: dict[str, float], roles: dict[str, str]) -> list[Candidate]:
    return [Candidate(Path(p.model).stem, accuracy.get(Path(p.model).stem), p.co2e_g_per_item, p.energy_j_per_item,
                      p.latency_s, roles.get(Path(p.model).stem, "")) for p in projections]


def nas_cost_kg(ps: ProfileSet, *, preset: str | None, cost_kg: float | None, cost_kwh: float | None,
                hardware: str | None, count: float | None, hours: float | None, pue: float | None,
                datacenter: DatacenterProfile | None, grid: float | None, region: tuple[RegionProfile, RegionYear] | None,
                net: bool = False) -> tuple[float, list[dict], str]:
    """The one-off search cost in kgCO2e, its inputs and a one-line description."""
    given = sum(x is not None for x in (preset, cost_kg, cost_kwh, hardware))
    if given != 1:
        raise UsageError("give exactly one NAS cost: --nas-preset, --nas-cost-kg, --nas-cost-kwh, or --nas-hardware with --nas-count and --nas-hours")
    if cost_kg is not None:
        if not cost_kg >= 0:
            raise UsageError(f"--nas-cost-kg {cost_kg}: must be >= 0")
        return cost_kg, [{"name": "nas_cost_kg", "value": cost_kg, "unit": "kgCO2e", "source": "stated by the user", "kind": "stated"}], \
            f"{cost_kg:g} kgCO2e (stated)"
    if cost_kwh is not None:
        if not cost_kwh >= 0:
            raise UsageError(f"--nas-cost-kwh {cost_kwh}: must be >= 0")
        _, g, place_inputs = place(pue, datacenter, grid, region, net, flag="--nas-")
        return operational_co2e_kg(cost_kwh, g), [
            {"name": "nas_cost_kwh", "value": cost_kwh, "unit": "kWh (facility)", "source": "stated by the user", "kind": "stated"},
            place_inputs[1]], f"{cost_kwh:g} kWh at {g:.4g} gCO2e/kWh"
    if preset is not None:
        p = ps.get("nas", preset)
        label = p.hardware or p.hardware_label
        inputs = [{"name": "nas_preset", "value": p.name, "unit": "", "source": f"{p.title}; {p.file}", "kind": "published"},
                  p.chip_hours.as_input("chip_hours", "h")]
        if p.hardware:  # a hardware profile: the footprint accounting, power from the preset or the profile
            f = footprint(ps.get("hardware", p.hardware), 1, p.chip_hours.value,
                          avg_power_w=p.avg_power_w.value if p.avg_power_w else None, pue=pue, datacenter=datacenter,
                          grid_gco2e_per_kwh=grid, region=region, net=net)
            inputs += [i for i in f.inputs if i["name"] in ("avg_power_w", "pue", "grid_gco2e_per_kwh")]
            return f.co2e_kg, inputs, f"{p.title}: {p.chip_hours.value:g} chip-hours on {label}"
        # no profile for this chip (K40, GTX 1080 Ti): the preset states its power; same formulas
        p_, g, place_inputs = place(pue, datacenter, grid, region, net, flag="--nas-")
        kwh = energy_kwh(p.chip_hours.value, 1, p.avg_power_w.value, p_)  # type: ignore[union-attr]
        inputs += [{"name": "hardware", "value": p.hardware_label, "unit": "", "source": p.avg_power_w.source, "kind": "datasheet"},  # type: ignore[union-attr]
                   p.avg_power_w.as_input("avg_power_w", "W")] + place_inputs  # type: ignore[union-attr]
        return operational_co2e_kg(kwh, g), inputs, f"{p.title}: {p.chip_hours.value:g} chip-hours on {label}"
    hw = ps.get("hardware", hardware)  # type: ignore[arg-type]
    if count is None or hours is None:
        raise UsageError("--nas-hardware needs --nas-count and --nas-hours")
    f = footprint(hw, count, hours, pue=pue, datacenter=datacenter, grid_gco2e_per_kwh=grid, region=region, net=net)
    return f.co2e_kg, f.inputs, f"{count:g} x {hw.name} for {hours:g} h"
