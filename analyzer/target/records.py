"""Where and how a model runs, as frozen records: the `Site` (PUE, grid intensity, the hardware's busy share and
the embodied-carbon policy) and the `Target` (hardware, dtype, runtime, batch, phase and site). Resolved once by
target/resolve.py from options and profiles; every value keeps its provenance in `inputs`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..profiles import HardwareProfile

# how the hardware's embodied carbon is charged to what runs on it
EMBODIED_POLICIES = ("lifetime-share", "excluded")


@dataclass(frozen=True)
class Site:
    """A datacenter on a grid: PUE and gCO2e/kWh, the share of the hardware's life it is busy (its embodied
    carbon is spread over the busy time), and whether embodied carbon is charged at all."""

    pue: float
    grid_gco2e_per_kwh: float
    inputs: tuple[dict[str, Any], ...]
    notes: tuple[str, ...] = ()
    utilization: float = 1.0
    embodied: str = "lifetime-share"
    label: str = ""  # e.g. "google-fleet, world-ember-2022@2022"
    # where the PUE or grid is an estimate with a stated range (a published search's unpublished site): (low, high,
    # source); a cost drawn over the site's uncertainty uses them
    pue_range: tuple[float, float, str] | None = None
    grid_range: tuple[float, float, str] | None = None
    power_boundary: str = "server"  # what a power figure counts: the chip, or the chip and its host's share
    embodied_boundary: str = "server"  # chip, card, or card and server share (account/boundary.py)

    def settings(self) -> dict[str, Any]:
        return {"pue": self.pue, "grid_gco2e_per_kwh": self.grid_gco2e_per_kwh, "utilization": self.utilization,
                "embodied": self.embodied, "power_boundary": self.power_boundary, "embodied_boundary": self.embodied_boundary}

    def to_dict(self) -> dict[str, Any]:
        return {**self.settings(), "label": self.label, "inputs": list(self.inputs), "notes": list(self.notes)}


@dataclass(frozen=True)
class Serving:
    """How a decoder is served (vLLM's settings and names) and the requests it serves: lengths drawn from a
    distribution about the phase's prompt and output means, or the given (prompt, output) pairs. The one record of
    the serving settings: target/resolve.py fills it, project/serving.py's `serve` takes it."""

    max_num_seqs: int = 256
    max_num_batched_tokens: int = 8192
    block_size: int = 16
    gpu_memory_utilization: float = 0.9
    kv_dtype: str = "auto"
    tensor_parallel: int = 1  # GPUs one replica spans
    lengths: str = "pareto-exp"  # pareto-exp | fixed | pairs
    pairs: tuple[tuple[int, int], ...] = ()
    pairs_source: str = ""  # the file the pairs came from, and its sha256

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in ("max_num_seqs", "max_num_batched_tokens", "block_size", "gpu_memory_utilization",
                                           "kv_dtype", "tensor_parallel", "lengths", "pairs_source")}
        d["pairs"] = len(self.pairs)  # how many; the source names them
        return d


@dataclass(frozen=True)
class Phase:
    """What one evaluation costs: a forward ('inference'), a decoder's prompt ('prefill') or one generated token
    ('decode'), a whole response ('response': prefill, then output_tokens - 1 decode steps) or a training step
    ('train', with its optimizer), or an output token of a decoder served with continuous batching ('serving': the
    prompt and output lengths are means, or its `serving` gives the pairs)."""

    kind: str = "inference"
    prompt_tokens: int | None = None
    output_tokens: int | None = None
    optimizer: str | None = None
    serving: Serving | None = None

    @property
    def item(self) -> str:
        """What one item of the evaluation's per-item figures is."""
        return {"inference": "input", "prefill": "prompt", "decode": "generated token", "response": "response",
                "train": "training sample", "serving": "output token"}[self.kind]

    def to_dict(self) -> dict[str, Any]:
        d = {"kind": self.kind, "prompt_tokens": self.prompt_tokens, "output_tokens": self.output_tokens,
             "optimizer": self.optimizer}
        if self.serving is not None:
            d["serving"] = self.serving.to_dict()
        return d


@dataclass(frozen=True)
class Target:
    """Where and how a candidate runs: every setting an evaluation depends on besides the model itself."""

    hardware: HardwareProfile
    dtype: str
    runtime: str
    batch: int
    site: Site
    phase: Phase = Phase()
    dims: tuple[tuple[str, int], ...] = ()  # bindings of the models' symbolic input dims
    assume_upper_bound: bool = False  # value-dependent sizes costed at their largest
    per_kernel: bool = False  # keep every kernel's row in the projection
    batch_norm: str = "auto"  # batch norms an inference export folded: unfolded where PyTorch runs them, or as-exported
    notes: tuple[str, ...] = ()
    memory_format: str = "nchw"  # PyTorch's tensor layout on a GPU: nchw, or channels-last (project/kernels MEMORY_FORMATS)

    @property
    def pue(self) -> float:
        return self.site.pue

    @property
    def grid_gco2e_per_kwh(self) -> float:
        return self.site.grid_gco2e_per_kwh

    @property
    def utilization(self) -> float:
        return self.site.utilization

    def settings(self) -> dict[str, Any]:
        """What an evaluation depends on besides the model and the profile files (cache keys, reports)."""
        return {"hardware": self.hardware.name, "dtype": self.dtype, "runtime": self.runtime, "batch": self.batch,
                "phase": self.phase.to_dict(), "dims": dict(self.dims), "assume_upper_bound": self.assume_upper_bound,
                "batch_norm": self.batch_norm, **({"memory_format": self.memory_format} if self.memory_format != "nchw" else {}),
                **self.site.settings()}

    def to_dict(self) -> dict[str, Any]:
        return {**self.settings(), "hardware_title": self.hardware.title, "site": self.site.to_dict(), "notes": list(self.notes)}

    def with_site(self, site: Site) -> "Target":
        from dataclasses import replace

        return replace(self, site=site)


@dataclass(frozen=True)
class TargetRequest:
    """What a caller asks for, before the profiles and defaults resolve it into a `Target` (target/resolve.py):
    None is "not given" (the serving default, said in the target's notes). `site` is a site resolved already
    (a search's own); `serving` the served decoder's engine settings by name (max_concurrency,
    max_batched_tokens, kv_dtype, lengths, tensor_parallel)."""

    hardware: str | None = None
    dtype: str | None = None
    runtime: str | None = None
    batch: int | None = None
    phase: str | None = None
    prompt_tokens: int | None = None
    output_tokens: int | None = None
    optimizer: str | None = None
    dims: dict[str, int] | None = None
    assume_upper_bound: bool = False
    per_kernel: bool = False
    pue: float | None = None
    datacenter: str | None = None
    grid: float | None = None
    region: str | None = None
    net: bool = False
    utilization: float | None = None
    embodied: str = "lifetime-share"
    site: Site | None = None
    batch_norm: str = "auto"
    power_boundary: str | None = None
    embodied_boundary: str | None = None
    serving: dict[str, Any] | None = None
    memory_format: str = "nchw"


@dataclass(frozen=True)
class SiteRequest:
    """A site as a caller states it, before the profiles resolve it (target/resolve.py resolve_search_site): PUE
    or a datacenter, grid intensity or a region (NAME[@YEAR], `net` for CFE-net), the accounting boundaries
    (account/boundary.py); None is "not given"."""

    pue: float | None = None
    datacenter: str | None = None
    grid: float | None = None
    region: str | None = None
    net: bool = False
    power_boundary: str | None = None
    embodied_boundary: str | None = None
