"""The one writer of profile files: a profile as TOML through tomlkit (inline tables keep one provenance-carrying
value a line, as the shipped files are written), so what is written parses back into the same values.

Calibrated values carry the year of the data they were fitted on, not the year the code was written."""

from __future__ import annotations

import math
from typing import Any, Iterable

from .parse import HW_SCALAR_KEYS
from .schema import HardwareProfile, Sourced


def _sourced(s: Sourced) -> Any:
    import tomlkit

    t = tomlkit.inline_table()
    t.update({"value": s.value, "source": s.source, "year": s.year, "kind": s.kind})
    if s.note:
        t["note"] = s.note
    return t


def _clean(v: Any) -> Any:
    """TOML has no null: None values are left out; a non-finite float is refused (it would not parse back)."""
    if isinstance(v, float) and not math.isfinite(v):
        raise ValueError(f"{v} cannot be written to a profile")
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items() if x is not None}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    return v


def hardware_toml(hw: HardwareProfile, *, name: str | None = None, title: str | None = None,
                  aliases: Iterable[str] | None = None, projection: dict[str, Sourced] | None = None,
                  training: dict[str, Sourced] | None = None, calibration: dict[str, Any] | None = None,
                  header: str = "") -> str:
    """`hw` as a profile file, with its name, title, aliases, [projection], [training] and [calibration] replaced
    where given (a calibration writes the base profile with its fitted values). Every sourced value of the base
    profile is kept."""
    import tomlkit

    doc = tomlkit.document()
    for line in header.splitlines():
        doc.add(tomlkit.comment(line))
    doc["name"] = name or hw.name
    doc["title"] = title or hw.title
    doc["category"] = hw.category
    if hw.family:
        doc["family"] = hw.family
    if hw.host:
        doc["host"] = hw.host
    if not hw.transferable:
        doc["transfer"] = False
    if hw.avg_power_boundary != "chip":
        doc["avg_power_boundary"] = hw.avg_power_boundary
    doc["embodied_method"] = hw.embodied_method
    al = tuple(hw.aliases if aliases is None else aliases)
    if al:
        doc["aliases"] = list(al)
    if hw.note:
        doc["note"] = hw.note
    for key in HW_SCALAR_KEYS:  # every sourced scalar of the base (L2 size and SM count included)
        v = getattr(hw, key)
        if v is not None:
            doc[key] = _sourced(v)
    for table in ("peak_tflops", "peak_tflops_sparse", "achievable_tflops"):
        values = getattr(hw, table)
        if values:
            t = tomlkit.table()
            for dt, s in values.items():
                t[dt] = _sourced(s)
            doc[table] = t
    for table, values in (("projection", hw.projection if projection is None else projection),
                          ("training", hw.training if training is None else training)):
        if values:
            t = tomlkit.table()
            for k, s in values.items():
                t[k] = _sourced(s)
            doc[table] = t
    cal = hw.calibration if calibration is None else calibration
    if cal:
        t = tomlkit.table()
        for k, v in _clean(cal).items():
            if isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
                arr = tomlkit.array()
                arr.multiline(True)
                for row in v:
                    it = tomlkit.inline_table()
                    it.update(row)
                    arr.append(it)
                t[k] = arr
            else:
                t[k] = v
        doc["calibration"] = t
    return tomlkit.dumps(doc)


def region_toml(name: str, title: str, category: str, years: dict[int, dict[str, Any]], *, aliases: Iterable[str] = (),
                licence: str = "", note: str = "", header: str = "") -> str:
    """A region profile: one [years.YYYY] table per year (grid_gco2e_per_kwh, cfe_fraction, source, kind)."""
    import tomlkit

    doc = tomlkit.document()
    for line in header.splitlines():
        doc.add(tomlkit.comment(line))
    doc["name"] = name
    doc["title"] = title
    if aliases:
        doc["aliases"] = list(aliases)
    doc["category"] = category
    if licence:
        doc["licence"] = licence
    if note:
        doc["note"] = note
    ys = tomlkit.table(is_super_table=True)
    for year, row in sorted(years.items()):
        t = tomlkit.table()
        for k, v in _clean(row).items():
            t[k] = v
        ys[str(year)] = t
    doc["years"] = ys
    return tomlkit.dumps(doc)
