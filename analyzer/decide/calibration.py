"""The `calibrate` use case: measured forwards or training steps -> a calibrated hardware profile written atomically.

What a written profile says of itself:
- its name: `name` if given, else the stem of the output file (`--out my-gpu.toml` -> "my-gpu");
- the device measured: `device` if given, else the one device the measurements name (a fleet's device, the GPU a record
  names, or the CPU for the CPU provider); measurements naming several devices are refused; none named: "not stated";
  never the machine that runs the fit;
- no shadowing by accident: a name (or the output path) that a shipped profile already has is refused unless `shadow`
  (a folder holding it given to --profiles replaces the shipped one, so it must be meant). A profile replacing its own
  base by name keeps the base's aliases; any other carries none.
The write is atomic: a temporary file in the target folder, then os.replace, so a refusal or a crash never leaves half a
profile, and nothing is written when the fit is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UsageError, param
from ..profiles import HardwareProfile

NOT_STATED = "a device the measurements do not name (give --device)"


@dataclass(frozen=True)
class Target:
    """Where and under which name a calibrated profile goes, and what it says was measured."""

    out: Path
    name: str
    shadow: bool = False


def profile_name(out: Path, name: str | None) -> str:
    n = (name if name is not None else out.stem).strip()
    if not n or any(c in n for c in "\n\r\"\\") or len(n) > 100:
        raise UsageError(f"{param('name')} {n!r}: a profile name must be 1 to 100 printable characters")
    return n


def check_target(target: Target, shipped: Any) -> None:
    """Refuse writing over or shadowing a shipped profile unless target.shadow (module docstring)."""
    if target.shadow:
        return
    key = target.name.lower()
    for p in shipped.hardware.values():
        if key == p.name.lower() or key in (a.lower() for a in p.aliases):
            raise UsageError(f"profile name '{target.name}' is the shipped profile {p.name}'s: given to {param('profiles')}, "
                             f"it would replace that one; choose another {param('name')} (or {param('out')} file name), or "
                             f"say {param('shadow')} to mean it")
        if p.file and Path(p.file).resolve() == target.out.resolve():
            raise UsageError(f"{param('out')} {target.out} is the shipped profile {p.name}'s file; write elsewhere, or say "
                             f"{param('shadow')} to mean it")


def measured_on(devices: list[str], device: str | None) -> str:
    if device is not None:
        if not device.strip() or len(device) > 200:
            raise UsageError(f"{param('device')} {device!r}: give the device's name (1 to 200 characters)")
        return device.strip()
    named = sorted({d for d in devices if d})
    if len(named) > 1:
        raise UsageError(f"the measurements come from {len(named)} devices ({', '.join(named[:4])}): calibrate one at a time "
                         f"({param('device_kind')} picks one)")
    return named[0] if named else NOT_STATED


def aliases_for(hw: HardwareProfile, name: str) -> tuple[str, ...]:
    return tuple(hw.aliases) if name.lower() == hw.name.lower() else ()


def write_atomic(out: Path, text: str) -> None:
    """text to out atomically (files.write_atomic: a temporary file in out's folder, fsync, os.replace)."""
    from ..files import write_atomic as atomic

    atomic(out, text, UsageError, f"{param('out')} {out}")


def calibrate_forwards(hw: HardwareProfile, obs: list, target: Target, device: str | None, data_year: int | None,
                       defaults: dict) -> dict[str, Any]:
    """Fit, check, write; the summary record (project/calibrate_profile.calibration_summary)."""
    from ..project.calibrate import CalibratedName, calibrate, calibrated_profile_toml, calibration_summary

    on = measured_on([o.device for o in obs], device)
    cal = calibrate(obs, hw, defaults)
    text = calibrated_profile_toml(hw, cal, obs, CalibratedName(target.name, on, aliases=aliases_for(hw, target.name),
                                                                     data_year=data_year))
    write_atomic(target.out, text)
    return calibration_summary(cal, obs, str(target.out), target.name, on)
