"""A hardware profile from the few numbers a datasheet gives (`nas-analyzer profiles new`): the request record,
the profile it makes (every datasheet value `kind = "datasheet"` with the source the user states; every value the
datasheet leaves out from the family's defaults in profiles/families.toml, saying which family and why), and its
atomic write, validated by the same parser the loader uses before it replaces anything."""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..checks import check_number
from ..errors import AnalyzerError, UsageError, param
from ..taxonomy import COMPUTE_DTYPES, DEVICE_FAMILIES
from .families import Family, families, infer_family
from .parse import _HW_SCALARS
from .schema import HardwareProfile, Sourced

NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
# datasheet scalars the request may carry (profile key -> parameter name): the rest come from the family
DATASHEET_KEYS = ("memory_gb", "memory_bandwidth_gbps", "tdp_w", "idle_w", "sm_count", "max_threads_per_sm", "l2_cache_mb",
                  "interconnect_gbps", "host_power_w", "accelerators_per_server")
REQUIRED = ("memory_bandwidth_gbps", "tdp_w")


@dataclass(frozen=True)
class NewHardware:
    """What a datasheet says about a part (SI-ish units in the names, as in a profile), and where it says it."""

    name: str
    source: str  # the datasheet (or page) the numbers come from
    year: int  # its year
    peak_tflops: dict[str, float]  # dtype -> dense peak, TFLOP/s (TOPS for int8/int4)
    values: dict[str, float] = field(default_factory=dict)  # DATASHEET_KEYS -> value
    peak_tflops_sparse: dict[str, float] = field(default_factory=dict)
    title: str = ""
    family: str = ""  # empty: inferred from name, title and architecture
    architecture: str = ""  # e.g. "TU102", "Ampere GA102", "Zen 4": only to infer the family
    aliases: tuple[str, ...] = ()
    note: str = ""
    host: str = ""  # the host CPU and framework that will drive it: host and launch costs are the host's (transfer.py)


def _check(req: NewHardware) -> None:
    if not NAME.match(req.name):
        raise UsageError(f"profile name '{req.name}': lower-case letters, digits, '.', '_' and '-', starting with a letter "
                         "or digit, at most 64 characters (it names the file)")
    for a in req.aliases:
        if not NAME.match(a):
            raise UsageError(f"{param('alias')} '{a}': lower-case letters, digits, '.', '_' and '-'")
    if not req.source.strip():
        raise UsageError(f"{param('source')}: say where the numbers come from (the datasheet's title or address)")
    check_number("year", req.year, 1950, 2100)
    if not req.peak_tflops:
        raise UsageError(f"{param('peak_tflops')}: at least one dtype's peak is required, as DTYPE=TFLOPS (e.g. fp32=16.3)")
    for table, peaks in (("peak_tflops", req.peak_tflops), ("peak_tflops_sparse", req.peak_tflops_sparse)):
        for dt, v in peaks.items():
            if dt not in COMPUTE_DTYPES:
                raise UsageError(f"{param(table)} {dt}: unknown dtype; valid: {', '.join(COMPUTE_DTYPES)}")
            check_number(f"{table}", v, 1e-6, 1e6, low_open=True)
    for key, v in req.values.items():
        if key not in DATASHEET_KEYS:
            raise UsageError(f"{param(key)}: not a datasheet value a new profile takes; valid: {', '.join(DATASHEET_KEYS)}")
        check_number(key, v, *_HW_SCALARS[key])
    for key in REQUIRED:
        if key not in req.values:
            raise UsageError(f"{param(key)}: required (every hardware profile needs its memory bandwidth and its TDP or "
                             "board power limit)")
    if "idle_w" in req.values and req.values["idle_w"] > req.values["tdp_w"]:
        raise UsageError(f"{param('idle_w')} {req.values['idle_w']:g}: exceeds {param('tdp_w')} {req.values['tdp_w']:g}")


def resolve_family(req: NewHardware, fams: dict[str, Family]) -> Family:
    """The family named, else the one the name, title or architecture matches; an error when none does."""
    if req.family:
        if req.family not in fams:
            raise UsageError(f"{param('family')} '{req.family}': expected one of {', '.join(DEVICE_FAMILIES)}")
        return fams[req.family]
    found = infer_family(req.architecture, req.title, req.name, known=fams)
    if found is None:
        said = ", ".join(repr(t) for t in (req.name, req.title, req.architecture) if t)
        raise UsageError(f"no family recognised in {said}; name it with {param('family')} (one of {', '.join(DEVICE_FAMILIES)})")
    return fams[found]


def new_hardware(req: NewHardware, fams: dict[str, Family] | None = None, file: str = "") -> HardwareProfile:
    """The profile `req` describes: its datasheet values as stated, the rest from its family (module docstring)."""
    _check(req)
    fams = fams if fams is not None else families()
    fam = resolve_family(req, fams)
    said = f"datasheet: {req.source.strip()}"

    def sheet(v: float) -> Sourced:
        return Sourced(float(v), said, req.year, "datasheet")

    def default(key: str, value: float | None = None, how: str = "") -> Sourced:
        s = fam.values[key]
        why = f"{fam.name} family default (profiles/families.toml){how}: {s.source}"
        return Sourced(float(s.value if value is None else value), why, s.year, s.kind)

    scalars = {k: sheet(v) for k, v in req.values.items()}
    if "idle_w" not in scalars:
        share = fam.values["idle_share_of_tdp"].value
        scalars["idle_w"] = default("idle_share_of_tdp", share * req.values["tdp_w"],
                                    f", idle = TDP {req.values['tdp_w']:g} W x {share:g}")
    if fam.category == "gpu" and "max_threads_per_sm" not in scalars:
        scalars["max_threads_per_sm"] = default("max_threads_per_sm")
    scalars.setdefault("embodied_co2e_kg", default("embodied_co2e_kg"))
    scalars.setdefault("lifetime_years", default("lifetime_years"))
    return HardwareProfile(
        name=req.name, title=req.title.strip() or req.name, category=fam.category, file=file,
        embodied_method=fam.embodied_method, family=fam.name, aliases=tuple(req.aliases), note=req.note, host=req.host.strip(),
        peak_tflops={dt: sheet(v) for dt, v in req.peak_tflops.items()},
        peak_tflops_sparse={dt: sheet(v) for dt, v in req.peak_tflops_sparse.items()}, **scalars)


def target_file(out: Path, name: str) -> Path:
    """`out` itself when it names a .toml file, else OUT/hardware/NAME.toml (a folder `--profiles OUT` reads)."""
    return out if out.suffix == ".toml" else out / "hardware" / f"{name}.toml"


def shadowed(hw: HardwareProfile, shipped: dict[str, HardwareProfile]) -> str | None:
    """The shipped profile whose name or an alias `hw`'s name or an alias would take over, if any."""
    mine = {hw.name.lower(), *(a.lower() for a in hw.aliases)}
    for p in shipped.values():
        if mine & {p.name.lower(), *(a.lower() for a in p.aliases)}:
            return p.name
    return None


def write_profile(path: Path, text: str, *, overwrite: bool = False) -> HardwareProfile:
    """Write a hardware profile atomically: the text goes to a temporary file beside `path`, is read back by the
    loader's own parser (an invalid profile is never written), then replaces `path` in one step (os.replace).
    An existing `path` is refused unless `overwrite`. Returns the profile as the loader reads it."""
    from .loader import read_profile

    if path.exists() and not overwrite:
        raise UsageError(f"{param('out')} {path}: exists; give {param('force')} to replace it")
    if path.exists() and not path.is_file():
        raise UsageError(f"{param('out')} {path}: not a regular file")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".toml", dir=path.parent)
    except OSError as e:
        raise UsageError(f"{param('out')} {path}: cannot write ({e.strerror})") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        read_profile(Path(tmp), "hardware")
        os.replace(tmp, path)
    except AnalyzerError:
        raise
    except OSError as e:
        raise UsageError(f"{param('out')} {path}: cannot write ({e.strerror})") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return read_profile(path, "hardware")
