"""Linux hwmon sensors as meters (Documentation/hwmon/sysfs-interface.rst: energyN_input in microjoules,
cumulative; powerN_input / powerN_average in microwatts; inN_input in millivolts; currN_input in milliamperes).

- Energy counters: Intel GPUs (i915, xe: energy1_input, Documentation/ABI/testing/sysfs-driver-intel-*-hwmon),
  AMD CPU sockets (amd_energy: Esocket channels), any chip by name.
- NVIDIA Jetson: the INA3221 rail monitors (Documentation/hwmon/ina3221.rst: inN_label, inN_input mV,
  currN_input mA), and on L4T 32 the ina3221x IIO driver (rail_name_N, in_powerN_input in mW). The board's input
  rail (VDD_IN, POM_5V_IN, VIN_SYS_5V0) is the module's total; without one the rails are summed, and the
  meter says which.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import MeterUnavailable
from .meters import UJ_PER_J, EnergyMeter, counter_delta
from .sampling import PowerIntegrator

HWMON = Path("/sys/class/hwmon")
JETSON_IIO = Path("/sys/bus/i2c/drivers/ina3221x")
GPU_CHIPS = ("i915", "xe")
TOTAL_RAIL = re.compile(r"(^|_)(5V_)?IN$|^VIN_|^VDD_IN$", re.I)


def _read(p: Path) -> str:
    try:
        return p.read_text().strip()
    except OSError as e:
        raise MeterUnavailable(f"hwmon: cannot read {p} ({e.strerror or e})") from None


def _number(p: Path) -> float:
    text = _read(p)
    try:
        return float(text)
    except ValueError:
        raise MeterUnavailable(f"hwmon: {p} holds {text[:40]!r}, not a number") from None


def chips(root: Path = HWMON) -> dict[str, list[Path]]:
    """hwmon chip name -> its hwmonN folders."""
    out: dict[str, list[Path]] = {}
    if root.is_dir():
        for d in sorted(root.iterdir()):
            name = (d / "name")
            if name.is_file():
                out.setdefault(_read(name), []).append(d)
    return out


class HwmonEnergyMeter(EnergyMeter):
    """Sum of energyN_input counters (microjoules, cumulative). A counter that goes back (a reset; hwmon states no
    range to wrap at) is refused (meters.counter_delta), never counted as 0."""

    min_window_s = 1.0

    def __init__(self, files: list[Path], source: str) -> None:
        if not files:
            raise MeterUnavailable(f"{source}: no energy*_input file")
        self.files, self.source = files, source
        self.snapshot()

    def snapshot(self) -> tuple[float, ...]:
        return tuple(_number(f) for f in self.files)

    def joules_between(self, a, b) -> float:
        return sum(counter_delta(x, y, None, f"{self.source} {f.name}") for f, x, y in zip(self.files, a, b)) / UJ_PER_J


def energy_files(folder: Path, label: re.Pattern | None = None) -> list[Path]:
    """energyN_input files of one chip, those whose energyN_label matches `label` when given."""
    out = []
    for f in sorted(folder.glob("energy*_input"), key=lambda p: int(re.sub(r"\D", "", p.name) or 0)):
        lab = f.with_name(f.name.replace("_input", "_label"))
        if label is None or (lab.is_file() and label.search(_read(lab))):
            out.append(f)
    return out


def hwmon_meter(name: str | None = None, root: Path = HWMON) -> EnergyMeter:
    """The energy counters of the chip `name`, or the first of: an Intel GPU (i915/xe: its first counter, the
    card or GT total), AMD CPU sockets (amd_energy Esocket*), a chip with power readings only (integrated)."""
    found = chips(root)
    if not found:
        raise MeterUnavailable(f"no hwmon: {root} has no sensor chips")
    order = [name] if name else [*GPU_CHIPS, "amd_energy"]
    for chip in order:
        for folder in found.get(chip, []):
            if chip in GPU_CHIPS:
                files = energy_files(folder)[:1]  # energy1: the card (xe) or the GT total (i915); energy2 is within it
            elif chip == "amd_energy":
                files = energy_files(folder, re.compile(r"^Esocket"))
            else:
                files = energy_files(folder)
            if files:
                return HwmonEnergyMeter(files, f"hwmon:{chip} ({', '.join(f.name for f in files)})")
            powers = sorted(folder.glob("power*_input")) or sorted(folder.glob("power*_average"))
            if powers and name:
                return PowerIntegrator(lambda ps=powers: sum(_number(p) for p in ps) / 1e6,
                                       f"hwmon:{chip} ({', '.join(p.name for p in powers)}, integrated)")
    raise MeterUnavailable(f"no hwmon energy counter{f' on chip {name!r}' if name else ''}; chips here: "
                           f"{', '.join(sorted(found))}")


def ina3221_rails(root: Path = HWMON, iio: Path = JETSON_IIO) -> dict[str, tuple[Path, ...]]:
    """Jetson power rails: label -> (mV file, mA file) from the hwmon ina3221 driver, or (mW file,) from L4T 32's
    ina3221x IIO driver. The 'sum of shunt voltages' channel is not a rail."""
    rails: dict[str, tuple[Path, ...]] = {}
    for folder in chips(root).get("ina3221", []):
        for lab in sorted(folder.glob("in*_label")):
            n = lab.name[2:-6]
            label = _read(lab)
            if "sum of shunt" in label.lower() or not (folder / f"curr{n}_input").is_file():
                continue
            rails[label] = (folder / f"in{n}_input", folder / f"curr{n}_input")
    for lab in sorted(iio.glob("*/iio:device*/rail_name_*")) if iio.is_dir() else []:
        n = lab.name.rsplit("_", 1)[1]
        rails[_read(lab)] = (lab.with_name(f"in_power{n}_input"),)
    return rails


def rail_watts(files: tuple[Path, ...]) -> float:
    if len(files) == 1:
        return _number(files[0]) / 1e3  # mW
    return _number(files[0]) * _number(files[1]) / 1e6  # mV x mA


def jetson_meter(root: Path = HWMON, iio: Path = JETSON_IIO, **kw) -> EnergyMeter:
    rails = ina3221_rails(root, iio)
    if not rails:
        raise MeterUnavailable("no Jetson power rails: no ina3221 hwmon chip and no ina3221x IIO rails")
    total = [r for r in rails if TOTAL_RAIL.search(r)]
    picked = total[:1] or sorted(rails)
    how = f"rail {picked[0]} (the module's input)" if total else f"sum of rails {'+'.join(picked)} (no input rail)"
    meter = PowerIntegrator(lambda: sum(rail_watts(rails[r]) for r in picked), f"jetson:ina3221 {how}", **kw)
    return meter
