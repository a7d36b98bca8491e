"""What the framework runs, when an export cannot say it: batch norms that an inference export folded.

An inference export in eval mode (the TorchScript exporter with constant folding, the dynamo exporter's
optimizer) folds each BatchNormalization into the convolution before it: the convolution gains a bias and the
norm disappears. ONNX Runtime does the same fold when it loads a file that kept them, so for ONNX Runtime the
two exports are already one plan. But the network trained, and served by PyTorch (eager or CUDA graphs), runs
its batch norms: a separate kernel after each bias-free convolution in inference, and statistics, transform and
backward kernels in training. So for those runtimes a folded graph is unfolded first.

Detection: a graph with convolutions and no normalisation layer of any kind, whose convolutions over feature
maps carry biases, was folded (networks since ResNet put a batch norm after every such convolution and give it
no bias). A convolution whose output is 1 x 1 spatially (squeeze-and-excitation, a classifier written as a
convolution) keeps its bias: those never had a norm. A network that truly has no normalisation (VGG, AlexNet)
looks the same, so the rule is a default, said in a note, and `batch_norm="as-exported"` turns it off.
"""

from __future__ import annotations

from dataclasses import replace

from ..records import ModelProfile, NodeProfile
from ..units import FP32_BYTES
from .kernels.graph import at_full_batch, numel

_NORMALISATION = frozenset({"BatchNormalization", "InstanceNormalization", "GroupNormalization", "LayerNormalization",
                            "LpNormalization", "MeanVarianceNormalization", "RMSNormalization", "SimplifiedLayerNormalization",
                            "SkipLayerNormalization"})
_CONV = frozenset({"conv", "depthwise_conv", "grouped_conv"})
BN_PARAMETERS = 4  # scale, shift, running mean, running variance: one of each per channel


def _feature_conv_with_bias(n: NodeProfile) -> bool:
    out = n.output_shapes[0] if n.output_shapes else []
    spatial = numel(out[2:]) if len(out) > 2 else 0
    return n.op_class in _CONV and len(n.inputs) > 2 and bool(n.inputs[2]) and spatial > 1


def folded_batch_norms(nodes: list[NodeProfile]) -> list[int]:
    """Indices of the convolutions whose batch norm an export folded (see the module docstring); [] when the
    graph has a normalisation layer, or no such convolution."""
    if has_normalisation(n.op_type for n in nodes):
        return []
    return [i for i, n in enumerate(nodes) if _feature_conv_with_bias(n)]


def _unfold(conv: NodeProfile) -> tuple[NodeProfile, NodeProfile]:
    """The bias-free convolution and the batch norm after it, in inference form (2 flops an element)."""
    out = conv.output_shapes[0]
    elems, channels = numel(out), int(out[1])
    params = FP32_BYTES * channels
    y = conv.outputs[0]
    hidden = f"{y}__before_batch_norm"
    bias_flops = elems  # the convolution handler's one add per output for its bias
    bare = replace(conv, flops=max(conv.flops - bias_flops, 0), bytes=max(conv.bytes - params, 0),
                   weight_bytes=max(conv.weight_bytes - params, 0), inputs=list(conv.inputs[:2]),
                   input_shapes=list(conv.input_shapes[:2]), initializer_inputs=list(conv.initializer_inputs[:2]),
                   input_dtypes=list(conv.input_dtypes[:2]), outputs=[hidden])
    names = [f"{conv.name}__bn_{p}" for p in ("scale", "shift", "mean", "var")]
    bn = NodeProfile(f"{conv.name}__batch_norm", "BatchNormalization", "normalization", 0, 2 * elems,
                     2 * FP32_BYTES * elems + BN_PARAMETERS * params, BN_PARAMETERS * params, [list(out)], True, [hidden, *names],
                     [y], [list(out)] + [[channels]] * BN_PARAMETERS, [False] + [True] * BN_PARAMETERS,
                     {"epsilon": 1e-5, "momentum": 0.9}, ["float32"] * (1 + BN_PARAMETERS))
    return bare, bn


def as_run(profile: ModelProfile, runtime: str, batch_norm: str = "auto") -> tuple[ModelProfile, list[str]]:
    """The profile as `runtime` runs the network (full-batch shapes, and for PyTorch the folded batch norms
    unfolded), with a note of what was changed. `runtime` "train" is a training step (PyTorch)."""
    nodes = at_full_batch(profile.per_op or [], profile.shape_scale)
    folded = folded_batch_norms(nodes) if batch_norm == "auto" and runtime in ("eager", "graph", "train") else []
    if not folded:
        return replace(profile, per_op=nodes, shape_scale=1) if profile.shape_scale != 1 else profile, []
    out: list[NodeProfile] = []
    at = set(folded)
    for i, n in enumerate(nodes):
        out.extend(_unfold(n) if i in at else (n,))
    return replace(profile, per_op=out, shape_scale=1), [unfold_note(len(folded), runtime)]


def unfold_note(n: int, runtime: str) -> str:
    """What as_run says when it unfolds `n` batch norms for `runtime`."""
    return (f"no normalisation layer in the graph and {n} convolutions over feature maps carry a bias: an "
            f"inference export folded their batch norms, which PyTorch runs ({'training' if runtime == 'train' else runtime}); "
            "projected with them unfolded (batch_norm 'as-exported' projects the graph as it is)")


def has_normalisation(op_types) -> bool:
    """Whether any of these (qualified) op types is a normalisation layer: then nothing is unfolded."""
    return any(op.split("::")[-1] in _NORMALISATION for op in op_types)
