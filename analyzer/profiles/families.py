"""Architecture families (profiles/families.toml), validated once into frozen records: which parts a family names,
its projection category, the defaults a datasheet leaves out (resident threads per SM, idle share of the TDP,
embodied carbon and lifetime) and the projection parameters that hold for the family's kernels on one precision
path (`efficiency_simt_<class>`: a tensor class on the FP32 FMA units). `with_family` gives a profile that was never
measured its family's values; `infer_family` reads a family from a part's name or architecture."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

from ..errors import ProfileError
from ..taxonomy import DEVICE_FAMILIES
from .reading import SHIPPED, _read
from .parse import CATEGORIES, _EMBODIED_METHODS, _HW_SCALARS, _sourced, fail, parse_projection
from .schema import HardwareProfile, Sourced

_SCALARS = {"max_threads_per_sm": _HW_SCALARS["max_threads_per_sm"], "idle_share_of_tdp": (0.0, 1.0),
            "embodied_co2e_kg": _HW_SCALARS["embodied_co2e_kg"], "lifetime_years": _HW_SCALARS["lifetime_years"]}
_REQUIRED = ("idle_share_of_tdp", "embodied_co2e_kg", "lifetime_years")


@dataclass(frozen=True)
class Family:
    name: str
    title: str
    category: str
    patterns: tuple[re.Pattern, ...]
    embodied_method: str
    values: dict[str, Sourced]  # max_threads_per_sm (GPUs), idle_share_of_tdp, embodied_co2e_kg, lifetime_years
    projection: dict[str, Sourced]
    file: str

    def matches(self, text: str) -> bool:
        return any(p.search(text) for p in self.patterns)


@lru_cache(maxsize=4)
def families(root: Path = SHIPPED) -> dict[str, Family]:
    """Every family of taxonomy.DEVICE_FAMILIES, in the file's order (the order `infer_family` tries them)."""
    file = root / "families.toml"
    data = _read(file)
    out: dict[str, Family] = {}
    for name, raw in data.items():
        if name not in DEVICE_FAMILIES:
            raise fail(file, name, f"unknown family; valid: {', '.join(DEVICE_FAMILIES)}")
        if not isinstance(raw, dict):
            raise fail(file, name, "must be a table")
        unknown = set(raw) - {"title", "category", "match", "embodied_method", "projection", *_SCALARS}
        if unknown:
            raise fail(file, f"{name}.{sorted(unknown)[0]}", "unknown key")
        for key in ("title", "category", "embodied_method"):
            if not isinstance(raw.get(key), str) or not raw[key].strip():
                raise fail(file, f"{name}.{key}", "missing or not a non-empty string")
        if raw["category"] not in CATEGORIES:
            raise fail(file, f"{name}.category", f"'{raw['category']}' is not one of {', '.join(CATEGORIES)}")
        if raw["embodied_method"] not in _EMBODIED_METHODS:
            raise fail(file, f"{name}.embodied_method", f"'{raw['embodied_method']}' is not one of {', '.join(_EMBODIED_METHODS)}")
        match = raw.get("match")
        if not isinstance(match, list) or not match or not all(isinstance(m, str) and m for m in match):
            raise fail(file, f"{name}.match", "must be a non-empty list of regular expressions")
        try:
            patterns = tuple(re.compile(rf"(?<![a-z0-9])(?:{m})(?![a-z0-9])", re.IGNORECASE) for m in match)
        except re.error as e:
            raise fail(file, f"{name}.match", f"not a regular expression ({e})") from None
        required = _REQUIRED + (("max_threads_per_sm",) if raw["category"] == "gpu" else ())
        for key in required:
            if key not in raw:
                raise fail(file, f"{name}.{key}", "missing (required for the family)")
        values = {k: _sourced(file, f"{name}.{k}", raw[k], *_SCALARS[k]) for k in _SCALARS if k in raw}
        projection = parse_projection(file, raw.get("projection", {}), f"{name}.projection")
        out[name] = Family(name, raw["title"], raw["category"], patterns, raw["embodied_method"], values, projection, str(file))
    missing = [f for f in DEVICE_FAMILIES if f not in out]
    if missing:
        raise fail(file, missing[0], "missing family (every family a profile may name has its defaults here)")
    return out


def infer_family(*texts: str, known: dict[str, Family] | None = None) -> str | None:
    """The first family (in profiles/families.toml's order) whose patterns match any of `texts` (a part's name,
    title, architecture; '-', '_' and '/' read as spaces), else None."""
    fams = known if known is not None else families()
    spelled = [re.sub(r"[-_/]+", " ", t) for t in texts if t]  # quadro-rtx-6000 reads as Quadro RTX 6000
    for fam in fams.values():
        if any(fam.matches(t) for t in spelled):
            return fam.name
    return None


def with_family(hw: HardwareProfile, fam: Family | None) -> HardwareProfile:
    """`hw` with its family's projection parameters where it states none of its own, unless it was measured
    (its own fit describes it) or opts out of learning (`transfer = false`, a datasheet reference). Carried over
    before a measured part's values are transferred (profiles/transfer.py), so a family's precision-path value
    (Turing's FP32 convolutions) wins over another family's tensor-core value."""
    if fam is None or not fam.projection or not hw.transferable:
        return hw
    if any(s.kind in ("calibrated", "measured") for s in hw.projection.values()):
        return hw
    added = {k: Sourced(s.value, f"{fam.name} family default (profiles/families.toml): {s.source}", s.year, s.kind, s.note)
             for k, s in fam.projection.items() if k not in hw.projection}
    return replace(hw, projection={**hw.projection, **added}) if added else hw


__all__ = ["Family", "families", "infer_family", "with_family"]
