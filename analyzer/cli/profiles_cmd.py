"""Command group `profiles`: list and show the profiles, and make a hardware profile from a datasheet (`new`).
Parsing and rendering only."""

from dataclasses import asdict
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import UsageError
from .base import FormatOpt, OutFormat, ProfilesOpt, app, command, console, load, print_json

profiles_app = typer.Typer(help="List and show hardware, datacenter, region and search profiles; make a hardware profile from a datasheet.", no_args_is_help=True)
app.add_typer(profiles_app, name="profiles")


class Kind(str, Enum):
    hardware = "hardware"
    datacenter = "datacenter"
    region = "region"
    nas = "nas"


@profiles_app.command("list")
@command
def profiles_list(kind: Annotated[Optional[Kind], typer.Argument(help="hardware, datacenter, region or nas (search presets); all if omitted.")] = None,
                  profiles: ProfilesOpt = None, fmt: FormatOpt = OutFormat.table) -> None:
    """List the available profiles with a one-line summary."""
    ps = load(profiles)
    if fmt is OutFormat.json:
        kinds = [kind.value] if kind else ["hardware", "datacenter", "region", "nas"]
        print_json({k: sorted(getattr(ps, k)) for k in kinds})
    else:
        from ..report.carbon_text import render_profile_list

        render_profile_list(ps.listing(kind.value if kind else None), console())


@profiles_app.command("show")
@command
def profiles_show(name: Annotated[str, typer.Argument(help="Profile name or alias (any kind); a region may be NAME@YEAR.")],
                  profiles: ProfilesOpt = None, fmt: FormatOpt = OutFormat.table) -> None:
    """Show every value of one profile with its source, year and kind."""
    ps = load(profiles)
    found = asdict(ps.find(name.partition("@")[0]))
    if fmt is OutFormat.json:
        print_json(found)
    else:
        from ..report.carbon_text import render_profile_show

        render_profile_show(found, console())


def _assignments(items: list[str] | None, flag: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        try:
            out[key.strip().lower()] = float(value)
        except ValueError:
            raise UsageError(f"{flag} '{item}': expected DTYPE=TFLOPS, e.g. fp32=16.3") from None
        if not sep:
            raise UsageError(f"{flag} '{item}': expected DTYPE=TFLOPS, e.g. fp32=16.3")
    return out


_Num = Optional[float]


@profiles_app.command("new")
@command
def profiles_new(
    name: Annotated[str, typer.Argument(help="The new profile's name (lower case; it names the file and --hardware takes it).")],
    out: Annotated[Path, typer.Option("--out", help="A profile folder (the profile goes to OUT/hardware/NAME.toml; use it with --profiles OUT) or a .toml file.")],
    source: Annotated[Optional[str], typer.Option("--source", help="Where the numbers come from: the datasheet's title or address (required).")] = None,
    year: Annotated[Optional[int], typer.Option("--year", help="The datasheet's year (required).")] = None,
    peak_tflops: Annotated[Optional[list[str]], typer.Option("--peak-tflops", help="Dense peak per dtype, DTYPE=TFLOPS (TOPS for int8), repeatable; at least one.")] = None,
    memory_bandwidth_gbps: Annotated[_Num, typer.Option("--memory-bandwidth-gbps", help="Memory bandwidth, GB/s (required).")] = None,
    tdp_w: Annotated[_Num, typer.Option("--tdp-w", help="TDP or board power limit, W (required): the projection's clocks drop beyond it.")] = None,
    family: Annotated[Optional[str], typer.Option("--family", help="turing, ampere, ada, hopper, blackwell, volta, pascal, jetson, apple, phone, x86 or arm; default: recognised from the name, --title or --architecture.")] = None,
    architecture: Annotated[Optional[str], typer.Option("--architecture", help="The chip or architecture (TU102, GA102, Zen 4, ...): only to recognise the family.")] = None,
    title: Annotated[Optional[str], typer.Option("--title", help="A readable title (default: the name).")] = None,
    memory_gb: Annotated[_Num, typer.Option("--memory-gb", help="Memory size, GB.")] = None,
    idle_w: Annotated[_Num, typer.Option("--idle-w", help="Idle power, W (default: the family's share of the TDP, stated as estimated).")] = None,
    sm_count: Annotated[_Num, typer.Option("--sm-count", help="Streaming multiprocessors (GPUs): how many blocks fill the chip.")] = None,
    max_threads_per_sm: Annotated[_Num, typer.Option("--max-threads-per-sm", help="Resident threads per SM (default: the family's compute capability).")] = None,
    l2_cache_mb: Annotated[_Num, typer.Option("--l2-cache-mb", help="Last-level on-chip cache, MB: working sets beyond it stream from memory.")] = None,
    interconnect_gbps: Annotated[_Num, typer.Option("--interconnect-gbps", help="GPU-to-GPU bandwidth each direction, GB/s (NVLink, else PCIe).")] = None,
    host_power_w: Annotated[_Num, typer.Option("--host-power-w", help="The host's power per accelerator under load, W (CPUs, memory, fans).")] = None,
    peak_tflops_sparse: Annotated[Optional[list[str]], typer.Option("--peak-tflops-sparse", help="2:4-sparse peak per dtype, DTYPE=TFLOPS, repeatable.")] = None,
    alias: Annotated[Optional[list[str]], typer.Option("--alias", help="Another name the profile answers to (repeatable).")] = None,
    host: Annotated[Optional[str], typer.Option("--host", help="The host CPU and framework driving it (e.g. 'AMD EPYC 7742, PyTorch 2.4 eager'): host and launch costs are the host's, not the GPU's; until calibrated they are a measured donor host's, and the provenance names both.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file at the output path.")] = False,
    shadow: Annotated[bool, typer.Option("--shadow", help="Allow a name or alias a shipped profile has: the new one overrides it wherever --profiles reads it.")] = False,
    fmt: FormatOpt = OutFormat.table,
) -> None:
    """Make a hardware profile from a datasheet's numbers: each value as stated (kind datasheet, with --source and
    --year), the rest from the family's defaults (profiles/families.toml, each saying which family and why);
    validated by the loader, written atomically, and printed back with its name and path."""
    from datetime import date

    from ..profiles.families import families
    from ..profiles.loader import load_profiles
    from ..profiles.new import NewHardware, new_hardware, shadowed, target_file, write_profile
    from ..profiles.writer import hardware_toml

    numbers = {"memory_gb": memory_gb, "memory_bandwidth_gbps": memory_bandwidth_gbps, "tdp_w": tdp_w, "idle_w": idle_w,
               "sm_count": sm_count, "max_threads_per_sm": max_threads_per_sm, "l2_cache_mb": l2_cache_mb,
               "interconnect_gbps": interconnect_gbps, "host_power_w": host_power_w}
    if year is None:
        raise UsageError("--year: required (the datasheet's year)")
    req = NewHardware(name=name, source=source or "", year=year, peak_tflops=_assignments(peak_tflops, "--peak-tflops"),
                      values={k: v for k, v in numbers.items() if v is not None},
                      peak_tflops_sparse=_assignments(peak_tflops_sparse, "--peak-tflops-sparse"), title=title or "",
                      family=(family or "").strip().lower(), architecture=architecture or "", aliases=tuple(alias or ()),
                      host=host or "")
    fams = families()
    hw = new_hardware(req, fams)
    path = target_file(out, name)
    taken = shadowed(hw, load_profiles().hardware)
    if taken and not shadow:
        raise UsageError(f"'{name}' (or an alias) is the shipped profile '{taken}': a folder holding the new one would "
                         "override it; choose another name or give --shadow")
    text = hardware_toml(hw, header=f"made by `nas-analyzer profiles new` on {date.today().isoformat()} from: {req.source}\n"
                         f"family {hw.family}: {fams[hw.family].title}")
    written = write_profile(path, text, overwrite=force)
    how = "named" if req.family else "recognised from the name, title or architecture"
    if fmt is OutFormat.json:
        print_json({"name": written.name, "path": str(path), "family": written.family, "family_from": how,
                    "shadows": taken, "profile": asdict(written)})
        return
    from ..report.carbon_text import render_profile_show

    c = console()
    c.print(f"wrote hardware profile '{written.name}' to {path} (family {written.family}, {how}"
            f"{'; overrides the shipped ' + repr(taken) if taken else ''})")
    render_profile_show(asdict(written), c)
    fam = fams[written.family]
    if fam.projection and written.transferable:
        c.print(f"projections also take the {fam.name} family's " + ", ".join(f"{k} = {v.value:g}" for k, v in fam.projection.items())
                + " (profiles/families.toml)")
    folder = path.parent.parent if path.parent.name == "hardware" else path.parent
    c.print(f"use it with: --profiles {folder} --hardware {written.name}")
