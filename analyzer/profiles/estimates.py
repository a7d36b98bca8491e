"""The coefficients of the CPU and DRAM energy estimate (profiles/energy-estimates.toml), validated once into a
frozen record: per-vCPU watts by microarchitecture, TDP and threads per part, DRAM watts per GB and the band."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..errors import ProfileError
from .reading import SHIPPED, _read
from .parse import _number, fail


@dataclass(frozen=True)
class VcpuPower:
    name: str
    match: tuple[str, ...]
    min_w: float
    max_w: float
    source: str


@dataclass(frozen=True)
class PartTdp:
    name: str
    tdp_w: float
    threads: int


@dataclass(frozen=True)
class EstimateCoefficients:
    vcpu: tuple[VcpuPower, ...]
    tdp: tuple[PartTdp, ...]
    dram_w_per_gb: float
    dram_source: str
    band: tuple[float, float]
    band_source: str
    band_summary: str
    file: str

    def part(self, cpu_model: str) -> PartTdp | None:
        """The TDP row whose every word is in the CPU's model name, once (R), (TM), 'CPU' and '@ clock' are dropped."""
        words = set(normalise(cpu_model).split())
        for row in self.tdp:
            if set(normalise(row.name).split()) <= words:
                return row
        return None

    def vcpu_power(self, cpu_model: str) -> VcpuPower:
        low = cpu_model.lower()
        for row in self.vcpu:
            if any(m.lower() in low for m in row.match):
                return row
        raise ProfileError(f"{self.file}: no [[vcpu]] row matches '{cpu_model}' and no default row (match = [\"\"])")


def normalise(model: str) -> str:
    text = re.sub(r"\((r|tm)\)", " ", model.lower())
    text = re.sub(r"@.*$", " ", text)
    return re.sub(r"\b(cpu|processor|\d+-core)\b", " ", text)


def _text(file: Path, key: str, raw) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise fail(file, key, "expected a non-empty string")
    return raw


@lru_cache(maxsize=4)
def estimate_coefficients(root: Path = SHIPPED) -> EstimateCoefficients:
    file = root / "energy-estimates.toml"
    data = _read(file)
    try:
        dram, band = data["dram"], data["band"]
        vcpu_rows, tdp_rows = data["vcpu"], data["tdp"]
    except KeyError as e:
        raise fail(file, str(e.args[0]), "missing table") from None
    vcpu = []
    for i, r in enumerate(vcpu_rows):
        where = f"vcpu[{i}]"
        match = r.get("match")
        if not isinstance(match, list) or not all(isinstance(m, str) for m in match):
            raise fail(file, f"{where}.match", "expected a list of strings")
        lo = _number(file, f"{where}.min_w", r.get("min_w"), 0, 1000)
        hi = _number(file, f"{where}.max_w", r.get("max_w"), lo, 1000)
        vcpu.append(VcpuPower(_text(file, f"{where}.name", r.get("name")), tuple(match), lo, hi,
                              _text(file, f"{where}.source", r.get("source"))))
    tdp = [PartTdp(_text(file, f"tdp[{i}].name", r.get("name")), _number(file, f"tdp[{i}].tdp_w", r.get("tdp_w"), 1, 2000),
                   int(_number(file, f"tdp[{i}].threads", r.get("threads"), 1, 4096))) for i, r in enumerate(tdp_rows)]
    low = _number(file, "band.low", band.get("low"), 0.01, 1.0)
    high = _number(file, "band.high", band.get("high"), 1.0, 100.0)
    return EstimateCoefficients(tuple(vcpu), tuple(tdp), _number(file, "dram.w_per_gb", dram.get("w_per_gb"), 0.01, 10),
                                _text(file, "dram.source", dram.get("source")), (low, high),
                                _text(file, "band.source", band.get("source")),
                                _text(file, "band.summary", band.get("summary")), str(file))
