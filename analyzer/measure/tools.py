"""Meters that read a vendor tool's output: the parsers are pure functions of the text the tool prints, so
recorded outputs (tests/data/meters/) exercise the same code a live run does.

- AMD GPUs: `rocm-smi --showenergycounter --json` prints {"card0": {"Energy counter": N, "Accumulated Energy
  (uJ)": E}, ...} (rocm_smi.py showEnergy: E = counter x resolution, cumulative microjoules).
- Apple silicon: `powermetrics --samplers cpu_power,gpu_power -i MS` prints blocks '*** Sampled system activity
  (DATE) (T ms elapsed) ***' each with 'CPU Power: N mW', 'GPU Power: N mW', 'ANE Power: N mW' (root only).
- NVIDIA Jetson: `tegrastats --interval MS` prints one line per interval with rails 'NAME CUR[mW]/AVG[mW][/MAX]'
  (L4T docs, "tegrastats Utility"); the module's input rail (VDD_IN, POM_5V_IN, VIN_SYS_5V0), else the sum.
"""

from __future__ import annotations

import json
import re
import subprocess
from typing import Callable

from ..errors import MeterUnavailable
from .meters import UJ_PER_J, EnergyMeter, counter_delta
from .sysfs import TOTAL_RAIL

ENERGY_KEY = "Accumulated Energy (uJ)"


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0][:200] if lines else "(no output)"


# ---- AMD: rocm-smi ------------------------------------------------------------------------------------------


def parse_rocm_smi_energy(text: str) -> dict[int, float]:
    """GPU index -> cumulative joules, from rocm-smi's JSON (--showenergycounter or -a)."""
    try:
        data = json.loads(text)
    except ValueError:
        raise MeterUnavailable(f"rocm-smi: output is not JSON: {_first_line(text)}") from None
    out = {}
    for card, fields in (data.items() if isinstance(data, dict) else []):
        m = re.fullmatch(r"card(\d+)", card)
        if m and isinstance(fields, dict) and ENERGY_KEY in fields:
            try:
                out[int(m.group(1))] = float(fields[ENERGY_KEY]) / UJ_PER_J
            except (TypeError, ValueError):
                raise MeterUnavailable(f"rocm-smi: {card} {ENERGY_KEY!r} is {fields[ENERGY_KEY]!r}, not a number") from None
    if not out:
        raise MeterUnavailable(f"rocm-smi: no card reports {ENERGY_KEY!r} (an energy counter needs an MI200 or newer, "
                               "bare metal)")
    return out


def _run(cmd: list[str]) -> str:
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise MeterUnavailable(f"{cmd[0]}: cannot run ({e})") from None
    if r.returncode != 0:
        raise MeterUnavailable(f"{' '.join(cmd)} failed: {_first_line(r.stderr or r.stdout)}")
    return r.stdout


class RocmSmiMeter(EnergyMeter):
    """Cumulative energy of the given GPUs (rocm-smi's indices), one rocm-smi call per snapshot."""

    COMMAND = ["rocm-smi", "--showenergycounter", "--json"]
    min_window_s = 2.0  # the call itself takes a few hundred ms

    def __init__(self, devices: tuple[int, ...] = (0,), run: Callable[[list[str]], str] = _run) -> None:
        self.devices, self.run = devices, run
        first = self.snapshot()
        self.source = f"rocm-smi:{'+'.join(f'gpu{d}' for d in devices)}"
        del first

    def snapshot(self) -> float:
        energy = parse_rocm_smi_energy(self.run(self.COMMAND))
        missing = [d for d in self.devices if d not in energy]
        if missing:
            raise MeterUnavailable(f"rocm-smi: no energy counter for GPU {missing[0]}; cards: {sorted(energy)}")
        return sum(energy[d] for d in self.devices)

    def joules_between(self, a: float, b: float) -> float:
        return counter_delta(a, b, None, self.source)  # a counter reset (a driver reload) is refused, not 0 J


# ---- Apple silicon: powermetrics -----------------------------------------------------------------------------

_PM_HEADER = re.compile(r"\*\*\* Sampled system activity .*\(([\d.]+)\s*ms elapsed\) \*\*\*")
_PM_POWER = re.compile(r"^(CPU|GPU|ANE) Power:\s*([\d.]+)\s*(mW|W)\s*$")


def _pm_number(text: str, line: str) -> float:
    try:
        return float(text)
    except ValueError:  # '1.2.3' matches [\d.]+
        raise MeterUnavailable(f"powermetrics: {text[:30]!r} is not a number in the line {line.strip()[:120]!r}") from None


class PowermetricsParser:
    """Incremental: a sample is complete at the next sample's header or at end(). The first CPU/GPU/ANE Power line
    of a block counts (a 'GPU usage' section repeats GPU Power). Watts = CPU + GPU + ANE."""

    def __init__(self) -> None:
        self.elapsed_s: float | None = None
        self.parts: dict[str, float] = {}
        self.seen_header = False

    def _close(self) -> list[tuple[float, float]]:
        if self.elapsed_s is None:
            return []
        if not self.parts:
            raise MeterUnavailable("powermetrics: a sample has no 'CPU Power'/'GPU Power' line (the cpu_power "
                                   "and gpu_power samplers were not on)")
        out = [(self.elapsed_s, sum(self.parts.values()))]
        self.elapsed_s, self.parts = None, {}
        return out

    def feed(self, line: str) -> list[tuple[float, float]]:
        line = line.rstrip("\n")
        m = _PM_HEADER.search(line)
        if m:
            out = self._close()
            self.elapsed_s, self.seen_header = _pm_number(m.group(1), line) / 1e3, True
            return out
        p = _PM_POWER.match(line.strip())
        if p and self.elapsed_s is not None and p.group(1) not in self.parts:
            self.parts[p.group(1)] = _pm_number(p.group(2), line) / (1e3 if p.group(3) == "mW" else 1)
        return []

    def end(self) -> list[tuple[float, float]]:
        if not self.seen_header:
            raise MeterUnavailable("powermetrics: no '*** Sampled system activity ... ms elapsed) ***' header in the output")
        return self._close()


def parse_powermetrics(text: str) -> list[tuple[float, float]]:
    """(seconds, watts) per sample of a powermetrics text output."""
    p = PowermetricsParser()
    out = [s for line in text.splitlines() for s in p.feed(line)]
    return out + p.end()


# ---- NVIDIA Jetson: tegrastats -------------------------------------------------------------------------------

_RAIL = re.compile(r"\b([A-Z][A-Z0-9_]*) (\d+)(mW)?/(\d+)(mW)?(?:/(\d+)(mW)?)?(?=\s|$)")


def parse_tegrastats_rails(line: str) -> dict[str, float]:
    """Rail name -> current watts from one tegrastats line ('VDD_IN 5018mW/5018mW', 'POM_5V_IN 2545/2547')."""
    rails = {m.group(1): float(m.group(2)) / 1e3 for m in _RAIL.finditer(line) if m.group(1) not in ("RAM", "SWAP", "IRAM")}
    if not rails:
        raise MeterUnavailable(f"tegrastats: no power rail (NAME mW/mW) in the line: {line.strip()[:120]!r}")
    return rails


def tegrastats_watts(rails: dict[str, float]) -> tuple[float, str]:
    total = [r for r in rails if TOTAL_RAIL.search(r)]
    if total:
        return rails[total[0]], f"rail {total[0]} (the module's input)"
    return sum(rails.values()), f"sum of rails {'+'.join(sorted(rails))} (no input rail)"


class TegrastatsParser:
    def __init__(self, interval_s: float) -> None:
        self.interval_s, self.how = interval_s, ""

    def feed(self, line: str) -> list[tuple[float, float]]:
        if not line.strip():
            return []
        watts, self.how = tegrastats_watts(parse_tegrastats_rails(line))
        return [(self.interval_s, watts)]


def powermetrics_meter(interval_ms: int = 100, lines=None) -> EnergyMeter:
    from .sampling import StreamMeter

    cmd = ["powermetrics", "--samplers", "cpu_power,gpu_power", "-i", str(interval_ms)]
    return StreamMeter(PowermetricsParser(), "powermetrics:cpu+gpu+ane", cmd, lines)


def tegrastats_meter(interval_ms: int = 100, lines=None) -> EnergyMeter:
    from .sampling import StreamMeter

    parser = TegrastatsParser(interval_ms / 1e3)
    meter = StreamMeter(parser, "tegrastats", ["tegrastats", "--interval", str(interval_ms)], lines)
    meter.source = f"tegrastats:{parser.how or 'rails'}"
    return meter
