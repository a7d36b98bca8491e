"""Loading profiles: the shipped profiles/ folder, then users' folders (overriding by name), into one frozen
`ProfileSet`; the projection's per-category defaults."""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from ..errors import ProfileError, UnknownProfileError, UsageError, echo, param
from .families import families, with_family
from .reading import SHIPPED, _read
from .parse import CATEGORIES, DEFAULT_ONLY_KEYS, PARSERS, PROJECTION_KEYS, fail, parse_projection
from .transfer import with_transfers
from .schema import DatacenterProfile, HardwareProfile, NasPreset, RegionProfile, RegionYear, Sourced


@lru_cache(maxsize=4)
def projection_defaults(root: Path = SHIPPED) -> dict[str, dict[str, Sourced]]:
    """Per-category default projection parameters (profiles/projection-defaults.toml)."""
    file = root / "projection-defaults.toml"
    data = _read(file)
    out = {}
    for cat in CATEGORIES:
        if cat not in data:
            raise fail(file, cat, f"missing category table; need {', '.join(CATEGORIES)}")
        out[cat] = parse_projection(file, data[cat], cat, defaults=True)
        missing = (set(PROJECTION_KEYS) | set(DEFAULT_ONLY_KEYS)) - set(out[cat])
        if missing:
            raise fail(file, f"{cat}.{sorted(missing)[0]}", "missing default")
    return out




@dataclass(frozen=True)
class ProfileSet:
    hardware: dict[str, HardwareProfile]
    datacenter: dict[str, DatacenterProfile]
    region: dict[str, RegionProfile]
    nas: dict[str, NasPreset] = field(default_factory=dict)

    def get(self, kind: str, name: str):
        table = getattr(self, kind)
        if not isinstance(name, str):
            raise UsageError(f"{kind} {echo(name)}: a profile's name (text) is required, not {type(name).__name__}")
        key = name.strip().lower()
        for p in table.values():
            if key == p.name.lower() or key in (a.lower() for a in p.aliases):
                return p
        close = suggest(key, {p.name: p.aliases for p in table.values()})
        hint = f"; did you mean {', '.join(close)}?" if close else f"; see `nas-analyzer profiles list {kind}`"
        raise UnknownProfileError(f"unknown {kind} '{echo(name)}'{hint}")

    def find(self, name: str):
        """A profile of any kind by name or alias (hardware, datacenter, region, nas in that order)."""
        if not isinstance(name, str):
            raise UsageError(f"profile {echo(name)}: a profile's name (text) is required, not {type(name).__name__}")
        for kind in ("hardware", "datacenter", "region", "nas"):
            try:
                return self.get(kind, name)
            except UnknownProfileError:
                pass
        close = suggest(name, {p.name: p.aliases for k in ("hardware", "datacenter", "region", "nas") for p in getattr(self, k).values()})
        hint = f"; did you mean {', '.join(close)}?" if close else "; see `nas-analyzer profiles list`"
        raise UnknownProfileError(f"unknown profile '{echo(name)}'{hint}")

    def listing(self, kind: str | None = None) -> dict[str, list[dict[str, str]]]:
        """Per kind (or one), each profile's name, title and a one-line summary of its headline values."""
        kinds = (kind,) if kind else ("hardware", "datacenter", "region", "nas")
        return {k: [{"name": p.name, "title": p.title, "summary": summary(p)} for p in getattr(self, k).values()] for k in kinds}

    def region_at(self, spec: str) -> tuple[RegionProfile, RegionYear]:
        """'name' (latest year) or 'name@YEAR'."""
        name, _, year = spec.partition("@")
        if year and not year.isdigit():
            raise UsageError(f"region '{echo(spec)}': expected NAME or NAME@YEAR")
        region = self.get("region", name)
        return region, region.at(int(year) if year else None)


def suggest(key: str, names: dict[str, tuple[str, ...]], n: int = 4) -> list[str]:
    """Profile names for a mistyped one: those whose name or an alias contains it (or is contained in it),
    then the closest by edit distance; each profile once, under its own name."""
    key = key.lower()
    if len(key) > 100:  # no profile name is this long: no edit distance is worth computing to it
        return []
    spellings = {s.lower(): name for name, aliases in names.items() for s in (name, *aliases)}
    out: list[str] = []
    for s, name in sorted(spellings.items()):
        if len(key) >= 2 and (key in s or s in key) and name not in out:
            out.append(name)
    for s in difflib.get_close_matches(key, list(spellings), n=2 * n, cutoff=0.5):
        if spellings[s] not in out:
            out.append(spellings[s])
    return out[:n]


def _load_dir(root: Path, out: dict[str, dict]) -> None:
    for kind in PARSERS:
        folder = root / kind
        if not folder.is_dir():
            continue
        for file in sorted(folder.rglob("*.toml")):
            profile = read_profile(file, kind)
            out[kind][profile.name] = profile  # later folders override earlier ones by name


def read_profile(file: Path, kind: str) -> HardwareProfile | DatacenterProfile | RegionProfile | NasPreset:
    """One profile file of `kind` (hardware, datacenter, region, nas), validated: a regular file of at most 4 MB
    (a FIFO named *.toml is refused, never read), and no NaN or infinity anywhere in it (TOML has both), the
    tables kept as recorded (a calibration's fitted forwards) included; then its kind's parser."""
    data = _read(file)
    _finite(file, data, "")
    return PARSERS[kind](file, data)


def _finite(file: Path, x: object, at: str) -> None:
    """Recursive, which the readers' cap on nesting (files.MAX_DEPTH) keeps shallow."""
    if isinstance(x, float) and not math.isfinite(x):
        raise fail(file, at, f"{x} is not a finite number")
    if isinstance(x, dict):
        for k, v in x.items():
            _finite(file, v, f"{at}.{k}" if at else str(k))
    elif isinstance(x, list):
        for i, v in enumerate(x):
            _finite(file, v, f"{at}[{i}]")


def load_profiles(extra_dirs: tuple[Path, ...] | list[Path] | str | Path = ()) -> ProfileSet:
    """Shipped profiles, then each extra folder (hardware/, datacenter/, region/ inside), overriding by name. One
    folder may be given as itself (text or a Path), several as a list or tuple; the set is remembered per folders."""
    from ..checks import check_paths

    return _load_profiles(tuple(check_paths("profiles", extra_dirs)))


def _cache_clear() -> None:
    _load_profiles.cache_clear()


load_profiles.cache_clear = _cache_clear  # type: ignore[attr-defined]  (tests start from the files again)


@lru_cache(maxsize=8)
def _load_profiles(extra_dirs: tuple[Path, ...]) -> ProfileSet:
    if not SHIPPED.is_dir():
        raise ProfileError(f"shipped profiles not found at {SHIPPED}; set NAS_ANALYZER_PROFILES to the profiles/ folder")
    out: dict[str, dict] = {k: {} for k in PARSERS}
    _load_dir(SHIPPED, out)
    for d in extra_dirs:
        if not Path(d).is_dir():
            raise UsageError(f"{param('profiles')} {echo(str(d))}: not a directory")
        if not any((Path(d) / k).is_dir() for k in PARSERS):
            raise UsageError(f"{param('profiles')} {echo(str(d))}: holds none of the folders {', '.join(PARSERS)}")
        _load_dir(Path(d), out)
    # a part never measured takes its family's precision-path values (profiles/families.toml), then learns the rest
    # from a measured GPU (profiles/transfer.py); a user's own calibrated profile, loaded from an extra folder,
    # becomes a donor like the shipped ones
    fams = families()
    out["hardware"] = {n: with_family(hw, fams.get(hw.family)) for n, hw in out["hardware"].items()}
    gpu = projection_defaults()["gpu"]
    out["hardware"] = with_transfers(out["hardware"], gpu["energy_log_sigma_transfer_step"].value,
                                     gpu["memory_efficiency_layout"].value)
    return ProfileSet(**out)


@dataclass(frozen=True)
class Default:
    """One stated default: its value and what it stands for."""

    value: str | float | int
    why: str


_DEFAULT_KEYS = {"site": {"datacenter": str, "region": str}, "target": {"prompt_tokens": int},
                 "serving": {"hardware": str, "dtype": str, "runtime": str, "cpu_runtime": str, "batch": int, "datacenter": str,
                             "region": str, "utilization": float},
                 "search": {"preset": str, "published_average_spread": float, "tdp_low_share": float},
                 "boundary": {"power": str, "embodied": str, "card_embodied_co2e_kg": float, "server_base_embodied_co2e_kg": float,
                              "accelerators_per_server": float},
                 "reuse": {"items_per_day": str, "deployments": str, "horizon_years": str},
                 "llm_serving": {"max_num_seqs": int, "max_num_batched_tokens": int, "gpu_memory_utilization": float,
                                 "block_size": int, "prompt_tokens": int, "output_tokens": int, "engine_overhead_gib": float,
                                 "pareto_shape": float, "max_len_tokens": int},
                 "comparison": {"datacenter": str, "region": str}, "sweep": {"batches": str, "hardware": str}}


@lru_cache(maxsize=4)
def defaults(root: Path = SHIPPED) -> dict[str, dict[str, Default]]:
    """The stated defaults (profiles/defaults.toml): section -> key -> Default, every key present and typed."""
    file = root / "defaults.toml"
    data = _read(file)
    out: dict[str, dict[str, Default]] = {}
    for section, keys in _DEFAULT_KEYS.items():
        table = data.get(section)
        if not isinstance(table, dict):
            raise fail(file, section, "missing table")
        out[section] = {}
        for key, kind in keys.items():
            raw = table.get(key)
            ok = isinstance(raw, dict) and isinstance(raw.get("why"), str) and raw["why"].strip() and \
                isinstance(raw.get("value"), (int, float) if kind is float else kind) and not isinstance(raw.get("value"), bool)
            if not ok:
                raise fail(file, f"{section}.{key}", f"expected {{ value = <{kind.__name__}>, why = \"...\" }}")
            out[section][key] = Default(kind(raw["value"]), raw["why"])
    return out


def summary(p: HardwareProfile | DatacenterProfile | RegionProfile | NasPreset) -> str:
    """A profile's headline values in one line."""
    if isinstance(p, HardwareProfile):
        peaks = ", ".join(f"{dt} {v.value:g}" for dt, v in p.peak_tflops.items())
        tdp = f"TDP {p.tdp_w.value:g} W; " if p.tdp_w else ""
        return f"{tdp}peak TFLOP/s: {peaks}"
    if isinstance(p, DatacenterProfile):
        return f"PUE {p.pue.value:g} ({p.pue.year})"
    if isinstance(p, NasPreset):
        return f"{p.chip_hours.value:g} chip-hours on {p.hardware or p.hardware_label}"
    y = max(p.years)
    row = p.years[y]
    cfe = f", CFE {row.cfe_fraction:g}" if row.cfe_fraction is not None else ""
    return f"{row.grid_gco2e_per_kwh:g} gCO2e/kWh in {y}{cfe}; years {min(p.years)}-{y}"
