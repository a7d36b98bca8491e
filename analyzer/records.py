"""Result records: raw SI numbers, plain and serialisable (to_dict / from_dict), no formatting."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from .errors import render


@dataclass(frozen=True, slots=True)
class OpCost:
    """What a handler returns for one node.

    macs: multiply-accumulates of matrix products (Conv, ConvTranspose, MatMul, Gemm, Einsum, attention,
    RNN gate GEMMs). flops: 2 x macs plus every other arithmetic operation of the node.
    moves_bytes: False for metadata-only ops (views), whose tensors are not read or written.
    """

    macs: int = 0
    flops: int = 0
    op_class: str = "elementwise"
    moves_bytes: bool = True
    notes: tuple[str, ...] = ()
    unsupported: tuple[tuple[str, int], ...] = ()  # from subgraphs: (op, count)
    known_nodes: int = 0  # from subgraphs: nodes with a rule
    total_nodes: int = 0  # from subgraphs: all nodes
    inner_bytes: int = 0  # from subgraphs: bytes their nodes read and write
    partial_reads: tuple[tuple[int, int], ...] = ()  # (input index, bytes read) where a node reads part of an input


@dataclass(frozen=True, slots=True)
class NodeProfile:
    name: str
    op_type: str
    op_class: str
    macs: int
    flops: int
    bytes: int  # bytes read and written by the node, each distinct tensor once
    weight_bytes: int  # part of `bytes` read from initializers
    output_shapes: list[list[int | str]]
    supported: bool
    inputs: list[str] = field(default_factory=list)  # tensor names, so projection can apply fusion rules
    outputs: list[str] = field(default_factory=list)
    # What the kernel model needs to map a node to the kernels a runtime launches: input shapes ([] when
    # unknown or omitted), which inputs are initializers, and the node's scalar / int-list attributes.
    input_shapes: list[list[int | str]] = field(default_factory=list)
    initializer_inputs: list[bool] = field(default_factory=list)
    attrs: dict[str, Any] = field(default_factory=dict)
    input_dtypes: list[str] = field(default_factory=list)  # element types ("float32", "int64", ...; "" when omitted)


@dataclass(frozen=True, slots=True)
class ModelProfile:
    model: str
    sha256: str
    opset: int
    batch: int | None
    params: int
    macs: int
    flops: int
    weight_bytes: int
    activation_bytes: int
    weight_read_bytes: int
    bytes_moved: int
    arithmetic_intensity: float
    weight_sparsity: float | None
    nm_sparsity: float | None
    coverage: float
    nodes: int
    unsupported_ops: dict[str, int]
    op_type_totals: dict[str, dict[str, int]]
    notes: list[str] = field(default_factory=list)
    dims: dict[str, int] = field(default_factory=dict)
    per_op: list[NodeProfile] | None = None
    shape_scale: int = 1  # > 1 when the batch is pinned in the graph: per-op shapes describe one item of shape_scale

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if self.per_op is None:
            d.pop("per_op")
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelProfile":
        d = dict(d)
        per_op = d.pop("per_op", None)
        return cls(**d, per_op=None if per_op is None else [NodeProfile(**p) for p in per_op])


@dataclass(frozen=True)
class Evaluation:
    """One candidate evaluated where a target says (analyzer.engine.evaluate): the projection's time and device
    energy, the accounting's facility energy and CO2e, per item of the phase (an input, a prompt, a generated
    token, a response per sequence, or a training sample), and the provenance of every input. `detail` holds the
    phase's own record (a projection, a response's generation cost, a training step). A candidate that could not
    be evaluated has `error` (one line naming it) and its exit code, and no figures."""

    name: str
    model: str
    identity: str  # sha256 of the model's bytes, or of a synthetic candidate's choices
    hardware: str = ""
    dtype: str = ""
    runtime: str = ""
    batch: int = 0
    phase: str = "inference"
    item: str = "input"
    latency_s: float = 0.0  # one forward, step or response of the batch
    throughput_per_s: float = 0.0  # items per second
    energy_j_per_item: float = 0.0  # device energy
    energy_range_j: dict[str, float] = field(default_factory=dict)  # its 90% band
    latency_range_s: dict[str, float] = field(default_factory=dict)
    energy_log_sigma_model: float = 0.0  # the error that is this model's own (log space)
    energy_log_sigma_shared: float = 0.0  # the error every model shares on this target
    energy_log_sigma: float = 0.0  # the whole error of the band
    facility_energy_j_per_item: float = 0.0  # (device + idle + host) x PUE
    idle_j_per_item: float = 0.0  # the device idling between items (the site's utilisation), per item
    host_j_per_item: float = 0.0  # the host's share per accelerator (server power boundary), per item
    co2e_g_per_item: float = 0.0  # operational
    co2e_kg_per_million: float = 0.0
    embodied_co2e_g_per_item: float | None = None  # the hardware's embodied share (None: no figure, or excluded)
    basis: str = ""  # datasheet | achievable | transferred | calibrated
    macs: int = 0  # per batch
    flops: float = 0.0
    params: int = 0
    bytes_moved: int = 0
    kernels: int = 0
    sha256: str = ""
    inputs: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    exit_code: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None

    def error_text(self, flag_of: Callable[[str], str] | None = None) -> str:
        """The error, its parameters named as `flag_of` says (errors.render)."""
        return render(self.error or "", flag_of)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if self.error is not None:
            d["error"] = self.error_text()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Evaluation":
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass(frozen=True)
class DecoderSpec:
    """A decoder-only transformer as its Hugging Face config.json describes it, without weights: enough to count
    its parameters, MACs, bytes and KV cache and to plan the kernels a serving engine launches (count/decoder_graph.py,
    project/serving_kernels.py). Layers of one kind are identical, so counts of each kind are all the layers need:
    `moe_layers` of the `num_layers` have routed experts (the rest a dense MLP), `window_layers` attend within
    `sliding_window` positions (the rest over the whole context)."""

    name: str
    model_type: str
    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int  # == num_heads: multi-head; 1: multi-query; between: grouped-query attention
    head_dim: int
    intermediate_size: int  # the dense MLP's inner width
    vocab_size: int
    tie_embeddings: bool = False
    gated_mlp: bool = True  # SwiGLU-style gate and up projections (3 matrices); False: up and down (GPT-2)
    norm: str = "rms"  # rms | layer (a weight and a bias) | layer_nobias (a weight) | none (no parameters)
    norms_per_layer: int = 2  # 1: one norm shared by a parallel block (GPT-J); 4: pre and post norms (Gemma-2)
    parallel_block: bool = False  # attention and MLP read the same input (GPT-J, Falcon, Cohere)
    qkv_bias: bool = False
    o_bias: bool = False  # the attention's output projection has a bias
    mlp_bias: bool = False  # the MLP's projections have biases (GPT-2)
    lm_head_bias: bool = False  # GPT-J, Phi-1/2
    qk_norm: str = ""  # head: a norm over each head's queries and keys (Qwen3); full: over all heads (OLMo-2)
    learned_positions: int = 0  # rows of a learned position table (GPT-2); 0 with rotary embeddings
    num_experts: int = 0  # routed experts of an MoE layer; 0: dense
    experts_per_token: int = 0
    moe_intermediate_size: int = 0
    shared_expert_intermediate_size: int = 0  # an always-active expert beside the routed ones (Qwen2-MoE)
    shared_expert_gate: bool = True  # a sigmoid gate on the shared expert (Qwen2-MoE; DeepSeekMoE has none)
    moe_layers: int = 0
    sliding_window: int = 0
    window_layers: int = 0
    max_position_embeddings: int = 0
    weight_dtype: str = "bf16"  # the checkpoint's dtype (torch_dtype, or fp8 where quantized so)
    source: str = ""
    family: str = ""  # the family it was read as (profiles/decoder-families.toml)
    notes: tuple[str, ...] = ()  # what the reading assumed (an unknown model_type priced as Llama)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "DecoderSpec":
        known = cls.__dataclass_fields__
        out = {k: v for k, v in d.items() if k in known}
        if "linear_bias" in d:  # a record saved before o_bias and mlp_bias were apart
            out.setdefault("o_bias", bool(d["linear_bias"]))
            out.setdefault("mlp_bias", bool(d["linear_bias"]))
        if isinstance(out.get("qk_norm"), bool):
            out["qk_norm"] = "head" if out["qk_norm"] else ""
        if "notes" in out:
            out["notes"] = tuple(out["notes"])
        return cls(**out)
