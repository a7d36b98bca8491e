"""Model manifests (models/manifest.toml): which files a folder of candidates holds, and their role,
published accuracy and source. Also expands command-line model arguments into files."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from ..errors import AnalyzerError, UsageError

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
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise AnalyzerError(f"{path}: cannot read manifest ({e})") from None
    entries = []
    for i, m in enumerate(data.get("model", [])):
        where = f"{path}: [[model]] #{i + 1}"
        for key in ("name", "file", "role"):
            if not isinstance(m.get(key), str):
                raise AnalyzerError(f"{where}: missing or non-string key '{key}'")
        if m["role"] not in ROLES:
            raise AnalyzerError(f"{where}: role '{m['role']}' is not one of {', '.join(ROLES)}")
        acc = m.get("top1_accuracy_pct")
        if acc is not None and not (isinstance(acc, (int, float)) and 0 <= acc <= 100):
            raise AnalyzerError(f"{where}: top1_accuracy_pct must be a number in 0..100, got {acc!r}")
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
        entries.append(ManifestEntry(m["name"], path.parent / m["file"], m["role"], m.get("architecture", ""),
                                     acc, m.get("accuracy_source", ""), m.get("params_published"),
                                     m.get("macs_published"), m.get("search_preset", ""), m.get("search_stand_in", ""),
                                     m.get("accuracy_recipe", ""), tuple(dict(a) for a in alts)))
    return entries


def entries_for(paths: list[Path]) -> dict[str, ManifestEntry]:
    """Model file stem -> its manifest entry, from the manifests of the folders `paths` are in."""
    out: dict[str, ManifestEntry] = {}
    for folder in dict.fromkeys(p.parent for p in paths):
        m = folder / MANIFEST
        if m.is_file():
            out.update({e.file.stem: e for e in read_manifest(m)})
    return out


def expand_model_args(args: list[Path]) -> list[Path]:
    """Files stay as given; a folder gives the files of its manifest (which must be built) or else
    its *.onnx files, or else its *.json decoder configs, sorted."""
    out: list[Path] = []
    for a in args:
        if a.is_dir():
            manifest = a / MANIFEST
            if manifest.is_file():
                entries = read_manifest(manifest)
                missing = [e.name for e in entries if not e.file.is_file()]
                if missing:
                    raise UsageError(f"{a}: models not built yet ({', '.join(missing)}); run: python models/build.py")
                out.extend(e.file for e in entries)
            else:
                found = sorted(a.glob("*.onnx")) or sorted(a.glob("*.json"))  # models, else decoders' configs
                if not found:
                    raise UsageError(f"{a}: is a directory with no .onnx models (nor .json decoder configs)")
                out.extend(found)
        else:
            out.append(a)  # a missing file fails on its own ("PATH: no such file", exit 2); the others still count
    return out
