"""Steps that chain the pure pieces: candidates from model files (profile -> project) and accuracy tables.
Each returns plain records."""

from __future__ import annotations

import csv
from pathlib import Path

from ..errors import AnalyzerError, UsageError, naming
from ..load.manifest import MANIFEST, read_manifest
from ..target.resolve import Placement
from ..count.profile import profile_onnx
from ..profiles import projection_defaults
from ..project.projection import Projection, project, resolve_params
from .rank import Candidate


def projection_key_parts(placement: Placement) -> dict:
    """What a projection depends on besides the model file: the placement, the hardware profile's and the
    projection defaults' contents (so a --profiles override changes the key) and the code."""
    from ..engine.store import code_version, file_digest
    from ..profiles import SHIPPED

    hw = placement.hardware
    return {**placement.settings(), "hardware_profile": file_digest(Path(hw.file)),
            "projection_defaults": file_digest(SHIPPED / "projection-defaults.toml"), "code": code_version()}


def project_models(paths: list[Path], placement: Placement, store=None, profiles_ver: str = "",
                   advance=None, profiles: dict | None = None) -> tuple[list[Projection], list[AnalyzerError]]:
    """Project each model; failures are collected (errors whose message names the model, with their exit
    codes), so the others still count. With a store, a projection of the same file content and key parts is
    read back instead. `profiles`, a dict, keeps static profiles by (path, batch) across calls (a sweep over
    runtimes, dtypes and hardware profiles each model once per batch)."""
    from dataclasses import replace

    from ..load.hash_cache import file_sha256
    from ..engine.store import result_key

    params = resolve_params(placement.hardware, placement.dtype, placement.runtime, projection_defaults())
    settings = projection_key_parts(placement) if store is not None else placement.settings()
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
            key_p = (str(path), placement.batch)
            prof = profiles.get(key_p) if profiles is not None else None
            if prof is None:
                prof = profile_onnx(path, batch=placement.batch, per_op=True)
                if profiles is not None:
                    profiles[key_p] = prof
            p = project(prof, placement.hardware, params, placement.runtime, placement.dtype, pue=placement.pue,
                        grid_gco2e_per_kwh=placement.grid_gco2e_per_kwh, utilization=placement.utilization,
                        place_inputs=list(placement.site.inputs))
            out.append(p)
            if key is not None:
                new_rows.append(("projection", key, str(path), prof.sha256, settings, profiles_ver, p.to_dict()))
        except AnalyzerError as e:
            errors.append(naming(e, str(path)))
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


def parse_weights(text: str | None) -> dict[str, float] | None:
    """--weights co2e=1,latency=1,accuracy=1: finite, >= 0."""
    if not text:
        return None
    from ..target.resolve import check_number

    w: dict[str, float] = {}
    for item in text.split(","):
        k, _, v = item.partition("=")
        if k.strip() not in ("co2e", "latency", "accuracy"):
            raise UsageError(f"--weights '{text}': keys are co2e, latency, accuracy")
        try:
            w[k.strip()] = check_number(f"--weights {k.strip()}", float(v), 0.0, 1e6)
        except ValueError:
            raise UsageError(f"--weights '{text}': '{item}' is not KEY=NUMBER") from None
    return w


def rank_models(paths: list[Path], placement: Placement, accuracy_csv: Path | None, objective: str, max_latency_ms: float | None,
                min_accuracy: float | None, weights: str | None, store=None, profiles_ver: str = "", advance=None):
    """Project and rank candidate files: (ranked rows, projections, the errors of the models that failed)."""
    from ..target.resolve import check_number
    from .rank import rank

    max_s = None if max_latency_ms is None else check_number("--max-latency-ms", max_latency_ms, 0.0, 1e9, low_open=True) / 1e3
    min_acc = None if min_accuracy is None else check_number("--min-accuracy", min_accuracy, 0.0, 100.0)
    w = parse_weights(weights)
    projections, errors = project_models(paths, placement, store, profiles_ver, advance)
    acc, roles = accuracy_from_manifests(paths)
    if accuracy_csv is not None:
        acc.update(accuracy_from_csv(accuracy_csv, {Path(p.model).stem for p in projections}))
    rows = rank(candidates(projections, acc, roles), objective, max_latency_s=max_s, min_accuracy=min_acc, weights=w)
    return rows, projections, errors
