"""Model manifests (models/manifest.toml): which files a folder of candidates holds, and their role,
published accuracy and source. Also expands command-line model arguments into files."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import AnalyzerError, UsageError
from ..files import read_toml

MANIFEST = "manifest.toml"
ROLES = ("baseline", "hand-designed", "NAS-found")


@dataclass(frozen=True, slots=True)
class ManifestEntry:
    name: str
    file: Path
    role: str
    architecture: str
    top1_accuracy_pct: float | None
    accuracy_source: str
    params_published: int | None
    macs_published: float | None
    # the search that found it, as a nas preset; search_stand_in says why another search stands in for its own
    search_preset: str = ""
    search_stand_in: str = ""
    accuracy_recipe: str = ""  # how the accuracy was trained (pairs prefer the same recipe)
    # the same architecture's accuracy under other training recipes: ({top1, recipe, source}, ...)
    accuracy_alternatives: tuple[dict, ...] = ()


def read_manifest(path: Path) -> list[ManifestEntry]:
    """A manifest's entries, checked: strings where text belongs, numbers (never booleans) where numbers do, and
    every file inside the manifest's folder (see `entry_file`). Errors name the manifest and the entry."""
    data = read_toml(path, AnalyzerError, what=f"{path}: manifest")
    models = data.get("model", [])
    if not isinstance(models, list):
        raise AnalyzerError(f"{path}: 'model' must be an array of tables ([[model]])")
    entries = []
    for i, m in enumerate(models):
        where = f"{path}: [[model]] #{i + 1}"
        if not isinstance(m, dict):
            raise AnalyzerError(f"{where}: not a table")
        for key in ("name", "file", "role"):
            if not isinstance(m.get(key), str):
                raise AnalyzerError(f"{where}: missing or non-string key '{key}'")
        for key in ("architecture", "accuracy_source"):
            if not isinstance(m.get(key, ""), str):
                raise AnalyzerError(f"{where}: '{key}' must be a string, got {m[key]!r}")
        if m["role"] not in ROLES:
            raise AnalyzerError(f"{where}: role '{m['role']}' is not one of {', '.join(ROLES)}")
        acc = _number(where, m, "top1_accuracy_pct", 100.0)
        params = _number(where, m, "params_published", 1e15)
        macs = _number(where, m, "macs_published", 1e18)
        for key in ("search_preset", "search_stand_in", "accuracy_recipe"):
            if not isinstance(m.get(key, ""), str):
                raise AnalyzerError(f"{where}: '{key}' must be a string")
        alts = m.get("accuracy_alternatives", [])
        if not isinstance(alts, list) or not all(
                isinstance(a, dict) and set(a) == {"top1", "recipe", "source"} and isinstance(a["top1"], (int, float))
                and not isinstance(a["top1"], bool) and 0 <= a["top1"] <= 100 and isinstance(a["recipe"], str)
                and isinstance(a["source"], str) for a in alts):
            raise AnalyzerError(f"{where}: accuracy_alternatives must be [[model.accuracy_alternatives]] tables with top1 "
                                "(0..100), recipe and source")
        entries.append(ManifestEntry(m["name"], entry_file(path, where, m["file"]), m["role"], m.get("architecture", ""),
                                     acc, m.get("accuracy_source", ""), None if params is None else int(params), macs,
                                     m.get("search_preset", ""), m.get("search_stand_in", ""), m.get("accuracy_recipe", ""),
                                     tuple(dict(a) for a in alts)))
    return entries


def entries_for(paths: list[Path]) -> dict[str, ManifestEntry]:
    """Model file stem -> its manifest entry, from the manifests of the folders `paths` are in."""
    out: dict[str, ManifestEntry] = {}
    for folder in dict.fromkeys(p.parent for p in paths):
        m = folder / MANIFEST
        if m.is_file():
            out.update({e.file.stem: e for e in read_manifest(m)})
    return out


def _number(where: str, m: dict, key: str, high: float) -> float | None:
    """An optional number in [0, high]; a boolean is not a number (TOML's `true` is not 1%)."""
    v = m.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= high:
        raise AnalyzerError(f"{where}: {key} must be a number in 0..{high:g}, got {v!r}")
    return v


def entry_file(manifest: Path, where: str, name: str) -> Path:
    """An entry's file: a path relative to the manifest's folder that stays inside it (`sub/x.onnx`, not `../x.onnx` or
    `/abs/x.onnx`), so a manifest that comes with a downloaded folder never names files elsewhere; a model elsewhere
    is given on the command line. A symlink inside the folder is followed (a folder of links to models is how
    candidates are often gathered): its target is read only if it is a regular file and a valid model."""
    folder = manifest.parent
    if not name or "\x00" in name:
        raise AnalyzerError(f"{where}: file {name!r} is not a file name")
    rel = Path(name)
    if rel.is_absolute() or rel.drive:
        raise AnalyzerError(f"{where}: file '{name}' is an absolute path; a manifest names files inside its folder "
                            f"({folder}); give a model elsewhere on the command line")
    if os.path.normpath(rel).split(os.sep)[0] == os.pardir:
        raise AnalyzerError(f"{where}: file '{name}' lies outside the manifest's folder ({folder}); a manifest names files "
                            "inside its folder; give a model elsewhere on the command line")
    return folder / rel


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:  # a name too long for the file system, say: then it does not exist
        return False


def expand_model_args(args: list[Path]) -> list[Path]:
    """Files stay as given; a folder gives the files of its manifest (which must be built) or else
    its *.onnx files, or else its *.json decoder configs, sorted."""
    out: list[Path] = []
    for a in args:
        if a.is_dir():
            manifest = a / MANIFEST
            if manifest.is_file():
                entries = read_manifest(manifest)
                missing = [str(e.file) for e in entries if not _exists(e.file)]
                if missing:
                    raise UsageError(f"{manifest}: lists files that do not exist: {', '.join(missing)}")
                out.extend(e.file for e in entries)
            else:
                found = sorted(a.glob("*.onnx")) or sorted(a.glob("*.json"))  # models, else decoders' configs
                if not found:
                    raise UsageError(f"{a}: is a directory with no .onnx models (nor .json decoder configs)")
                out.extend(found)
        else:
            out.append(a)  # a missing file fails on its own ("PATH: no such file", exit 2); the others still count
    return out
