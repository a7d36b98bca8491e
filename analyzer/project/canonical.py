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

Folded in part: an export can keep the norms it cannot fold (one after an Add, where no convolution precedes
it) and fold all the others. Where batch norms remain, the convolutions over feature maps that carry a bias and
feed no norm are folded ones when they outnumber the convolutions that feed a norm (NAS-Bench-201: 96 folded,
one kept after an add); a network with a few biased convolutions beside many normed ones (a detection head)
keeps them as they are.

Erased: an untrained network (NAS candidates are often profiled before training) exported by the dynamo exporter
loses its norms outright: a fresh norm (scale 1, shift 0, mean 0, variance 1) folds into a zero bias, which the
optimizer drops. Such a graph has bias-free convolutions over feature maps and no normalisation: the projection
says so in a note and keeps the graph as it is unless told (`batch_norm="present"`: a batch norm after every
convolution over feature maps that feeds none).
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


def _feature_conv(n: NodeProfile) -> bool:
    out = n.output_shapes[0] if n.output_shapes else []
    spatial = numel(out[2:]) if len(out) > 2 else 0
    return n.op_class in _CONV and spatial > 1


def _has_bias(n: NodeProfile) -> bool:
    return len(n.inputs) > 2 and bool(n.inputs[2])


def _feature_conv_with_bias(n: NodeProfile) -> bool:
    return _feature_conv(n) and _has_bias(n)


def _feeds_batch_norm(nodes: list[NodeProfile]) -> set[int]:
    """Indices of the nodes whose first output some BatchNormalization reads."""
    normed = {n.inputs[0] for n in nodes if n.op_type.split("::")[-1] == "BatchNormalization" and n.inputs}
    return {i for i, n in enumerate(nodes) if n.outputs and n.outputs[0] in normed}


def folded_batch_norms(nodes: list[NodeProfile], policy: str = "auto") -> list[int]:
    """Indices of the convolutions whose batch norm an export folded (or, `policy` "present", erased: every
    convolution over feature maps that feeds no norm); see the module docstring."""
    fed = _feeds_batch_norm(nodes)
    if policy == "present":
        return [i for i, n in enumerate(nodes) if _feature_conv(n) and i not in fed]
    ops = {n.op_type.split("::")[-1] for n in nodes}
    biased = [i for i, n in enumerate(nodes) if _feature_conv_with_bias(n) and i not in fed]
    if not ops & _NORMALISATION:
        return biased
    if ops & _NORMALISATION == {"BatchNormalization"} and len(biased) > sum(1 for i in fed if _feature_conv(nodes[i])):
        return biased  # folded in part: the norms an export could not fold remain
    return []


def erased_batch_norms(nodes: list[NodeProfile]) -> int:
    """Bias-free convolutions over feature maps in a graph with no normalisation at all: the count of norms an
    untrained export may have erased (module docstring); 0 where the graph has a norm or a biased convolution."""
    if any(n.op_type.split("::")[-1] in _NORMALISATION for n in nodes) or any(_feature_conv_with_bias(n) for n in nodes):
        return 0
    return sum(1 for n in nodes if _feature_conv(n) and not _has_bias(n))


def _unfold(conv: NodeProfile) -> tuple[NodeProfile, NodeProfile]:
    """The bias-free convolution and the batch norm after it, in inference form (2 flops an element)."""
    out = conv.output_shapes[0]
    elems, channels = numel(out), int(out[1])
    params = FP32_BYTES * channels
    y = conv.outputs[0]
    hidden = f"{y}__before_batch_norm"
    bias_flops = elems if _has_bias(conv) else 0  # the convolution handler's one add per output for its bias
    params_removed = params if _has_bias(conv) else 0
    bare = replace(conv, flops=max(conv.flops - bias_flops, 0), bytes=max(conv.bytes - params_removed, 0),
                   weight_bytes=max(conv.weight_bytes - params_removed, 0), inputs=list(conv.inputs[:2]),
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
    unfolded; with `batch_norm` "present", for every runtime, a norm after each convolution over feature maps
    that feeds none), with a note of what was changed or could not be told."""
    nodes = at_full_batch(profile.per_op or [], profile.shape_scale)
    pytorch = runtime in ("eager", "graph", "train")
    policy = batch_norm if batch_norm == "present" or (batch_norm == "auto" and pytorch) else ""
    folded = folded_batch_norms(nodes, policy) if policy else []
    if not folded:
        notes = []
        erased = erased_batch_norms(nodes) if batch_norm == "auto" and pytorch else 0
        if erased:
            notes.append(f"{erased} convolutions over feature maps carry no bias and the graph has no normalisation layer: "
                         "an untrained network exported by the dynamo exporter loses its batch norms (each folds into a zero "
                         "bias that the optimizer drops); projected as exported: if it has batch norms, batch_norm 'present' "
                         "states them")
        return (replace(profile, per_op=nodes, shape_scale=1) if profile.shape_scale != 1 else profile), notes
    out: list[NodeProfile] = []
    at = set(folded)
    for i, n in enumerate(nodes):
        out.extend(_unfold(n) if i in at else (n,))
    run = "training" if runtime == "train" else runtime
    if policy == "present":
        note = present_note(len(folded))
    elif any(n.op_type.split("::")[-1] in _NORMALISATION for n in nodes):
        note = (f"{len(folded)} convolutions over feature maps carry a bias and feed no norm, beside batch norms the export "
                f"kept: an inference export folded theirs, which PyTorch runs ({run}); projected with them unfolded "
                "(batch_norm 'as-exported' projects the graph as it is)")
    else:
        note = unfold_note(len(folded), runtime)
    return replace(profile, per_op=out, shape_scale=1), [note]


def unfold_note(n: int, runtime: str) -> str:
    """What as_run says when it unfolds `n` batch norms for `runtime` in a graph with no normalisation layer."""
    return (f"no normalisation layer in the graph and {n} convolutions over feature maps carry a bias: an "
            f"inference export folded their batch norms, which PyTorch runs ({'training' if runtime == 'train' else runtime}); "
            "projected with them unfolded (batch_norm 'as-exported' projects the graph as it is)")


def has_normalisation(op_types) -> bool:
    """Whether any of these (qualified) op types is a normalisation layer."""
    return any(op.split("::")[-1] in _NORMALISATION for op in op_types)


def present_note(n: int) -> str:
    """What a projection says of the norms batch_norm 'present' states (as_run; project/parts.py for segments)."""
    return f"batch_norm 'present': a batch norm after each of {n} convolutions over feature maps that fed none"
