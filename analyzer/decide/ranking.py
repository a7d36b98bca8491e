"""Ranking candidate files: their evaluations on one target (the engine), their accuracy (a manifest or a CSV)
and roles, into ranked rows (rank.py). Plain records in, plain records out."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..checks import check_number
from ..engine import evaluate
from ..errors import UsageError, param
from ..load.manifest import MANIFEST, read_manifest
from ..records import Evaluation
from ..target import Target
from ..units import MS_PER_S
from .rank import Candidate, Ranked, rank


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
    from ..files import read_csv

    out: dict[str, float] = {}
    header, rows = read_csv(path, UsageError, 16 << 20, f"{param('accuracy')} {path}")  # FIFO, device, bytes, cells: one line
    if not header or not {"model", "accuracy"} <= set(header):
        raise UsageError(f"{param('accuracy')} {path}: needs columns model, accuracy")
    for i, row in rows:
        name = Path(row["model"] or "").stem
        if name not in names:
            raise UsageError(f"{param('accuracy')} {path}: row {i}: unknown model {row['model']!r}; candidates: {', '.join(sorted(names))}")
        try:
            v = float(row["accuracy"])
        except (TypeError, ValueError):
            raise UsageError(f"{param('accuracy')} {path}: row {i}: accuracy {str(row['accuracy'])[:30]!r} is not a number") from None
        if not 0 <= v <= 100:
            raise UsageError(f"{param('accuracy')} {path}: row {i}: accuracy {v:g} is outside 0..100 (top-1 %)")
        out[name] = v
    return out


def candidates(evaluations: list[Evaluation], accuracy: dict[str, float], roles: dict[str, str]) -> list[Candidate]:
    return [Candidate(e.name, accuracy.get(e.name), e.co2e_g_per_item, e.energy_j_per_item, e.latency_s, roles.get(e.name, ""))
            for e in evaluations]


def parse_weights(text: str | None) -> dict[str, float] | None:
    """--weights co2e=1,latency=1,accuracy=1: finite, >= 0."""
    if not text:
        return None
    w: dict[str, float] = {}
    for item in text.split(","):
        k, _, v = item.partition("=")
        if k.strip() not in ("co2e", "latency", "accuracy"):
            raise UsageError(f"{param('weights')} '{text}': keys are co2e, latency, accuracy")
        try:
            w[k.strip()] = check_number("weights", float(v), 0.0, 1e6)
        except ValueError:
            raise UsageError(f"{param('weights')} '{text}': '{item}' is not KEY=NUMBER") from None
    return w


@dataclass(frozen=True)
class Ranking:
    """How candidates are ranked: accuracy from a CSV (else the manifests'), the objective (co2e, energy, latency,
    weighted with `weights` 'co2e=1,latency=1,accuracy=1'), and the constraints."""

    accuracy_csv: Path | None = None
    objective: str = "co2e"
    max_latency_ms: float | None = None
    min_accuracy: float | None = None
    weights: str | None = None


def rank_models(paths: list[Path], target: Target, how: Ranking = Ranking(), store: Any = None, profiles_ver: str = "",
                progress: Any = None, cache: dict | None = None) -> tuple[list[Ranked], list[Evaluation], list[Evaluation]]:
    """Evaluate and rank candidate files: (ranked rows, the evaluations, the failed evaluations)."""
    max_s = None if how.max_latency_ms is None else \
        check_number("max_latency_ms", how.max_latency_ms, 0.0, 1e9, low_open=True) / MS_PER_S
    min_acc = None if how.min_accuracy is None else check_number("min_accuracy", how.min_accuracy, 0.0, 100.0)
    w = parse_weights(how.weights)
    results = evaluate(paths, target, store=store, profiles_ver=profiles_ver, progress=progress, cache=cache)
    ok = [e for e in results if e.ok]
    acc, roles = accuracy_from_manifests(paths)
    if how.accuracy_csv is not None:
        acc.update(accuracy_from_csv(how.accuracy_csv, {e.name for e in ok}))
    rows = rank(candidates(ok, acc, roles), how.objective, max_latency_s=max_s, min_accuracy=min_acc, weights=w)
    return rows, ok, [e for e in results if not e.ok]


def rank_across(paths: list[Path], targets: list[Target], labels: list[str], accuracy_csv: Path | None = None,
                objective: str = "co2e", max_latency_ms: float | None = None, min_accuracy: float | None = None,
                weights: str | None = None) -> tuple[list[Ranked], list[Evaluation], list[Evaluation], dict[str, tuple[str, str]]]:
    """Candidates on several targets ranked together, a row per (candidate, target): which model where. Each row's
    candidate is named 'MODEL on TARGET' (names must be unique to rank); the last item maps that name back to
    (model, target label)."""
    from dataclasses import replace

    max_s = None if max_latency_ms is None else check_number("max_latency_ms", max_latency_ms, 0.0, 1e9, low_open=True) / MS_PER_S
    min_acc = None if min_accuracy is None else check_number("min_accuracy", min_accuracy, 0.0, 100.0)
    evaluations: list[Evaluation] = []
    failed: list[Evaluation] = []
    label: dict[str, tuple[str, str]] = {}
    for t, tl in zip(targets, labels):
        for e in evaluate(paths, t):
            if not e.ok:
                failed.append(e)
                continue
            named = replace(e, name=f"{e.name} on {tl}")
            evaluations.append(named)
            label[named.name] = (e.name, tl)
    acc, roles = accuracy_from_manifests(paths)
    if accuracy_csv is not None:
        acc.update(accuracy_from_csv(accuracy_csv, {m for m, _ in label.values()}))
    acc = {n: acc[m] for n, (m, _) in label.items() if m in acc}
    roles = {n: roles.get(m, "") for n, (m, _) in label.items()}
    rows = rank(candidates(evaluations, acc, roles), objective, max_latency_s=max_s, min_accuracy=min_acc,
                weights=parse_weights(weights))
    return rows, evaluations, failed, label
