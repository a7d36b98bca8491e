"""From an exported ONNX graph to the kernels a runtime launches (issue #11).

An exported graph is not what a runtime executes. The projection costs kernels, not nodes:

- Host-side work launches nothing: shape arithmetic and everything computed from constants (graph.py),
  and views. In eager PyTorch (and so in CUDA graphs, which replay eager's kernels) Reshape, Flatten,
  Squeeze, Unsqueeze, Transpose, Slice, Split, Expand and Gather with a constant index are views:
  consumers read strided tensors. ONNX Runtime materialises Transpose, Slice, Split, Expand and Gather.
- Fusion patterns (patterns.py) turn groups of nodes back into the one kernel the framework ran:
  scaled-dot-product attention, decomposed elementwise/normalisation operators, Linear with its bias;
  ONNX Runtime adds its epilogue fusions and folds BatchNormalization into the convolution before it.
- One node can launch several kernels (measured on an H100 with torch 2.11 + cuDNN 9.19, profiles/
  measurements/h100-sxm-2026-11-27/): cuDNN runs a dense kxk convolution on NCHW tensors as layout
  transforms of the input and the weights into NHWC, the convolution, and a transform of the output back
  (4 kernels in most of the 228 such convolutions traced, fp32 and fp16); a convolution's bias is a
  separate elementwise kernel in PyTorch; BatchNormalization in fp16/bf16 runs as 3 kernels (two small
  helpers, then the transform), in fp32 as one cuDNN kernel. 1x1 convolutions run as one GEMM-like kernel.

Every kernel keeps its FLOPs and the bytes it moves (at fp32 element size, FP32_BYTES; the projection scales
them to the compute dtype), its class (which sets its throughput and energy) and the host work of the operator
that launched it. `plan_kernels(...).kernels` is what `project --per-kernel` lists.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ...records import ModelProfile, NodeProfile
from . import patterns
from .graph import at_full_batch, dataflow, numel
from .ort_cpu import ort_cpu_graph

from ...taxonomy import HALF_DTYPES, HOST_FAMILIES, KERNEL_CLASSES, MEMORY_FORMATS, RUNTIMES, TENSOR_CLASSES  # noqa: F401 (re-exported)
from ...errors import UsageError, param
from ...units import FP32_BYTES

_EAGER_VIEWS = frozenset({"Transpose", "Slice", "Split", "Expand"})
_CONV_CLASSES = frozenset({"conv", "conv_transpose", "depthwise_conv", "grouped_conv", "depthwise_conv_transpose",
                           "grouped_conv_transpose"})
_CLASS_OF = {"gemm": "gemm", "control_flow": "gemm", "attention": "attention", "elementwise": "elementwise",
             "normalization": "norm", "softmax": "reduce", "pooling": "reduce", "reduction": "reduce", "movement": "layout"}


@dataclass(frozen=True)
class Kernel:
    op: str  # the ONNX node (first of its group) whose operator launched this kernel
    op_type: str  # what runs: "Conv", "attention", "layout:NCHW->NHWC", ...
    kclass: str  # one of KERNEL_CLASSES
    flops: float
    bytes: float  # bytes read and written, at fp32 element size
    host: str = ""  # the launching operator's host-work family; "" for its 2nd, 3rd ... kernels
    weights: bool = False  # a GEMM-class kernel reading weights (2:4 sparsity applies)
    outputs: float = 0.0  # output elements: the parallel work a tensor-core kernel tiles across the chip
    # a grid too small to fill the chip (PyTorch's per-channel batch-norm kernels: one block per channel):
    # blocks x threads per block; 0 when the grid is sized to the work (most kernels)
    grid_threads: float = 0.0
    # a 3 x 3 stride-1 convolution cuDNN computes with Winograd where it runs on the FP32 FMA units (roofline.py:
    # fewer multiplies); on tensor cores it runs as the direct convolution it is
    winograd: bool = False


@dataclass(frozen=True)
class KernelPlan:
    runtime: str
    kernels: tuple[Kernel, ...]
    host_nodes: int  # nodes computed on the host or folded at load time: no kernel
    view_nodes: int  # views: no kernel, no traffic
    fused_nodes: int  # nodes executed inside another node's kernel
    unsupported_nodes: int
    rules: tuple[str, ...] = field(default_factory=tuple)  # the fusion rules that fired, with counts
    weight_bytes: float = 0.0  # the model's weights as profiled: whether they fit the on-chip cache
    # for plans put together from a chain of segments (project/parts.py): the kernel class that produced each
    # tensor (what ONNX Runtime's epilogue fusions read of the next segment's input) and the tensors written by
    # nodes a fusion pattern grouped (a group may reach past the segment's output: then parts are not combined)
    producer_class: dict[str, str] = field(default_factory=dict, compare=False)
    grouped_tensors: frozenset[str] = frozenset()

    @property
    def ops(self) -> int:
        return sum(1 for k in self.kernels if k.host)


# Channels-last (NHWC) tensors in eager PyTorch on cuDNN: what changes from the NCHW plan.
# - Convolutions read and write NHWC, cuDNN's native layout for tensor cores: no layout transforms (NVIDIA Deep
#   Learning Performance Guide, "Tensor Layouts In Memory: NCHW vs NHWC"; the transforms this plan adds for NCHW are
#   the nchwToNhwc / nhwcToNchw kernels traced on the H100, profiles/measurements/h100-sxm-2026-11-27/traces_*.tar).
# - A batch norm runs as one NHWC kernel that streams its input and output with vectorised loads over the
#   contiguous channels: a memory-limited kernel (NVIDIA, "Optimizing Memory-Limited Layers", DU-09797-001, 2023,
#   section 3.1), costed in the elementwise class (the vectorised streaming kernels the H100 calibration fitted),
#   not the bn class: that class was fitted on NCHW kernels (cuDNN's fp32 bn_fw_inf_1C11_kernel_NCHW, PyTorch's
#   native half batch_norm_transform_input_kernel) whose per-element channel indexing holds them at 260-320 G
#   elements/s on the H100 whatever the element size (resnet18 b256 traces: 636 M elements in 2.41 ms fp32, 1.99 ms
#   fp16), which its compute term stands for. Under autocast (fp16 input, fp32 weights) PyTorch runs it on cuDNN
#   (aten/src/ATen/native/cudnn/BatchNorm.cpp requires fp32 weights for half input), one kernel; in training on
#   channels-last input in CUDNN_BATCHNORM_SPATIAL_PERSISTENT mode (getCudnnBatchNormMode, same file), whose
#   forward and backward are costed as the NCHW ones' traffic (training_kernels.py) in the streaming class.
# Eager PyTorch fuses nothing else: DeepLearningExamples' ResNet-50 (PyTorch/Classification/ConvNets/
# image_classification/resnet.py) runs nn.BatchNorm2d then nn.ReLU(inplace=True) and `out += residual` as
# separate operators (cuDNN's fused BN+ReLU+add kernels are MXNet's and TensorFlow's NHWC paths, not these).


# Winograd's minimal filtering F(2x2, 3x3) computes a 2 x 2 output tile of a 3 x 3 convolution with 16 multiplies
# where the direct convolution does 36 (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", CVPR
# 2016, section 4.1): cuDNN's fused Winograd kernel, which it picks for 3 x 3, stride-1 FP32 convolutions on the
# FMA units when the channels are enough to amortise the tile transforms
WINOGRAD_MULTIPLY_RATIO = 16 / 36
WINOGRAD_MIN_CHANNELS = 32  # estimated: below it the transforms cost more than the multiplies saved


def winograd_eligible(n: NodeProfile) -> bool:
    """A 3 x 3, stride-1, undilated, ungrouped convolution with at least WINOGRAD_MIN_CHANNELS in and out."""
    ks = n.attrs.get("kernel_shape") or (n.input_shapes[1][2:] if len(n.input_shapes) > 1 else [])
    if n.op_type != "Conv" or list(ks) != [3, 3] or int(n.attrs.get("group", 1)) != 1:
        return False
    if any(int(v) != 1 for v in (n.attrs.get("strides") or [1, 1])) or any(int(v) != 1 for v in (n.attrs.get("dilations") or [1, 1])):
        return False
    w = n.input_shapes[1] if len(n.input_shapes) > 1 else []
    return len(w) == 4 and int(w[0]) >= WINOGRAD_MIN_CHANNELS and int(w[1]) >= WINOGRAD_MIN_CHANNELS


def _conv_kernels(n: NodeProfile, cudnn: bool, bias_separate: bool, channels_last: bool = False) -> list[Kernel]:
    ks = n.attrs.get("kernel_shape") or (n.input_shapes[1][2:] if len(n.input_shapes) > 1 else [])
    group = int(n.attrs.get("group", 1))
    weight_bytes = float(n.weight_bytes)
    outs = float(numel(n.output_shapes[0])) if n.output_shapes else 0.0
    if n.op_class not in ("conv", "conv_transpose"):
        out = [Kernel(n.name, n.op_type, "depthwise", n.flops, n.bytes, "conv", True, outs)]
    elif all(k == 1 for k in ks) and group == 1:
        out = [Kernel(n.name, n.op_type, "conv1x1", n.flops, n.bytes, "conv", True, outs)]
    else:
        x = FP32_BYTES * numel(n.input_shapes[0]) if n.input_shapes else 0.0
        y = FP32_BYTES * outs
        # cuDNN on a GPU: Winograd where the roofline finds the FP32 FMA path
        main = Kernel(n.name, n.op_type, "conv", n.flops, n.bytes, "conv", True, outs,
                      winograd=cudnn and winograd_eligible(n))
        if cudnn and not channels_last:  # cuDNN: NCHW -> NHWC for input and weights, NHWC -> NCHW for the output
            out = [Kernel(n.name, "layout:NCHW->NHWC", "layout", 0.0, 2 * x),
                   Kernel(n.name, "layout:weights->NHWC", "layout", 0.0, 2 * weight_bytes), main,
                   Kernel(n.name, "layout:NHWC->NCHW", "layout", 0.0, 2 * y)]
        else:
            out = [main]
    has_bias = len(n.inputs) > 2 and bool(n.inputs[2])
    if has_bias and bias_separate:
        y = FP32_BYTES * numel(n.output_shapes[0]) if n.output_shapes else 0.0
        c = float(n.output_shapes[0][1]) if n.output_shapes and len(n.output_shapes[0]) > 1 else 0.0
        out.append(Kernel(n.name, "bias add", "elementwise", y / 4, 2 * y + 4 * c))
    return _one_operator(out, "conv")


def _one_operator(kernels: list[Kernel], family: str) -> list[Kernel]:
    """The kernels of one operator: the first carries the operator's host work, the others none."""
    return [replace(k, host=family if i == 0 else "") for i, k in enumerate(kernels)]


def _node_kernels(n: NodeProfile, runtime: str, gpu: bool, half: bool, flow, channels_last: bool = False) -> list[Kernel]:
    if n.op_class in _CONV_CLASSES:
        return _conv_kernels(n, cudnn=gpu, bias_separate=runtime != "ort", channels_last=channels_last)
    if n.op_type == "BatchNormalization":
        if gpu and channels_last:
            return [Kernel(n.name, "bn:nhwc", "elementwise", n.flops, n.bytes, "norm")]
        ks = [Kernel(n.name, n.op_type, "bn", n.flops, n.bytes, "norm")]
        if gpu and half and runtime != "ort":  # PyTorch's native half BN: invstd and a parameter copy first
            c = FP32_BYTES * (numel(n.input_shapes[1]) if len(n.input_shapes) > 1 else 0)
            ks = [Kernel(n.name, "bn:invstd", "aux", 0.0, 2 * c, "norm"), Kernel(n.name, "bn:copy", "aux", 0.0, 2 * c),
                  Kernel(n.name, n.op_type, "bn", n.flops, n.bytes)]
        return ks
    if n.op_class == "movement":
        if runtime != "ort" and n.op_type in _EAGER_VIEWS:
            return []
        if n.op_type == "Gather":
            data_const = bool(n.initializer_inputs and n.initializer_inputs[0])
            idx_const = len(n.initializer_inputs) > 1 and n.initializer_inputs[1]
            if runtime != "ort" and not data_const and idx_const:
                return []  # x[:, 0] in PyTorch: a view
            if data_const:  # embedding lookup: the rows read and the output written
                y = FP32_BYTES * numel(n.output_shapes[0]) if n.output_shapes else float(n.bytes)
                return [Kernel(n.name, "embedding", "layout", 0.0, 2 * y, "layout")]
        return [Kernel(n.name, n.op_type, "layout", 0.0, n.bytes, "layout")]
    cls = _CLASS_OF.get(n.op_class)
    if cls is None:
        return []
    weights = cls in TENSOR_CLASSES and any(n.initializer_inputs)
    outs = float(numel(n.output_shapes[0])) if n.output_shapes else 0.0
    return [Kernel(n.name, n.op_type, cls, n.flops, n.bytes, cls if cls in HOST_FAMILIES else "layout", weights, outs)]


def plan_kernels(profile: ModelProfile, runtime: str, dtype: str, gpu: bool, input_classes: dict[str, str] | None = None,
                 nchwc_block: int = 0, memory_format: str = "nchw") -> KernelPlan:
    """The kernels `runtime` launches for one forward pass of `profile` (per-op profile required).
    `gpu`: the target runs convolutions through cuDNN on NCHW tensors (layout transforms, separate bias; the
    3 x 3 ones `winograd_eligible` marked, which the roofline computes with Winograd's F(2x2, 3x3) where they run
    on the FP32 FMA units).
    `input_classes`: for a segment of a larger graph, the class of the kernels that wrote its inputs.
    `nchwc_block`: ONNX Runtime on a CPU with MLAS's blocked-layout kernels (ort_cpu.py; `nchwc_block(hw)`), 0 without.
    `memory_format`: "nchw" (PyTorch's default) or "channels-last" (`model.to(memory_format=torch.channels_last)`,
    as NVIDIA's DeepLearningExamples run mixed precision; eager and CUDA graphs, not ONNX Runtime): see MEMORY_FORMATS."""
    if memory_format not in MEMORY_FORMATS:
        raise UsageError(f"{param('memory_format')} '{memory_format}': expected one of {', '.join(MEMORY_FORMATS)}")
    channels_last = memory_format == "channels-last" and runtime != "ort"  # a PyTorch setting: an ONNX graph is NCHW
    nodes = at_full_batch(profile.per_op or [], profile.shape_scale)
    flow = dataflow(nodes)
    half = dtype in HALF_DTYPES
    claimed: set[int] = set()
    groups: dict[int, tuple[str, list[int]]] = {}  # first index -> (pattern, members)
    fired: dict[str, int] = {}
    order = [("attention", patterns.attention), ("recomposed", patterns.recomposed), ("linear_bias", patterns.linear_bias)]
    if runtime == "ort":  # eager PyTorch and CUDA graphs cut tensors by views: no kernel to fuse
        order.append(("split", patterns.parallel_slices))
    for name, match in order:
        for i in range(len(nodes)):
            if i in claimed or not flow.device_node(nodes[i]):
                continue
            g = match(nodes, flow, claimed, i)
            if g:
                claimed.update(g)
                groups[min(g)] = (name, g)
                fired[name] = fired.get(name, 0) + 1
    kernels: list[Kernel] = []
    host = views = fused = unsupported = 0
    producer_class: dict[str, str] = dict(input_classes or {})
    cpu = ort_cpu_graph(nodes, flow, claimed, nchwc_block) if runtime == "ort" and not gpu else None
    for i, n in enumerate(nodes):
        if cpu is not None and i in cpu.reorders:
            kernels += [Kernel(n.name, what, "layout", 0.0, b, "layout") for what, b in cpu.reorders[i]]
        if i in groups:
            name, g = groups[i]
            members = [nodes[k] for k in g]
            flops = float(sum(m.flops for m in members))
            if runtime == "ort" and name == "recomposed" and patterns.group_epilogue_fused(nodes, flow, producer_class, g):
                fused += len(g)  # ONNX Runtime's fusions (GeluFusion, then BiasGelu) run it inside the GEMM
                for t in (t for m in members for t in m.outputs if t):
                    producer_class[t] = producer_class.get(members[0].inputs[0], "gemm")
                continue
            if name == "attention":
                k = Kernel(n.name, "attention", "attention", flops, patterns.attention_bytes(nodes, g), "attention",
                           outputs=float(numel(nodes[max(g)].output_shapes[0])))
                extra = []
            elif name == "split":
                # the tensor read once and its pieces written once
                k = Kernel(n.name, "Split", "layout", 0.0, 2 * FP32_BYTES * numel(n.input_shapes[0]), "layout")
                extra = []
            elif name == "linear_bias":
                k = Kernel(n.name, "MatMul+bias", "gemm", flops, float(members[0].bytes + members[1].weight_bytes), "gemm",
                           any(members[0].initializer_inputs), float(numel(members[1].output_shapes[0])))
                extra = []
            else:
                cls = "norm" if any(m.op_type.startswith("Reduce") for m in members) else "elementwise"
                k = Kernel(n.name, "+".join(dict.fromkeys(m.op_type for m in members)), cls, flops,
                           patterns.recomposed_bytes(nodes, g, flow), cls)
                extra = []
            kernels += [k] + extra
            fused += len(g) - 1
            for t in (t for m in members for t in m.outputs if t):
                producer_class[t] = k.kclass
            continue
        if i in claimed:
            continue
        if not n.supported:
            unsupported += 1
            continue
        if n.op_class == "view" or n.op_class == "unsupported":
            views += 1
            continue
        if not flow.device_node(n):
            host += 1
            continue
        if runtime == "ort" and _fused_in_ort(nodes, flow, producer_class, i, cpu):
            fused += 1
            for t in n.outputs:
                if t:
                    producer_class[t] = producer_class.get(n.inputs[0], "gemm")
            continue
        ks = _node_kernels(n, runtime, gpu, half, flow, channels_last)
        if not ks:
            views += 1
            continue
        kernels += ks
        main = next((k.kclass for k in ks if k.kclass not in ("layout", "aux") or len(ks) == 1), ks[0].kclass)
        for t in n.outputs:
            if t:
                producer_class[t] = main
    if cpu is not None and len(nodes) in cpu.reorders:
        kernels += [Kernel(nodes[-1].name, what, "layout", 0.0, b, "layout") for what, b in cpu.reorders[len(nodes)]]
    if cpu is not None and cpu.eliminated:
        fired["common subexpression"] = len(cpu.eliminated)
    if cpu is not None and cpu.reorders:
        fired["nchwc reorder"] = sum(len(v) for v in cpu.reorders.values())
    rules = tuple(f"{k} x{v}" for k, v in fired.items())
    grouped = frozenset(t for _, g in groups.values() for k in g for t in nodes[k].outputs if t)
    return KernelPlan(runtime, tuple(kernels), host, views, fused, unsupported, rules, float(profile.weight_bytes),
                      producer_class, grouped)


def _fused_in_ort(nodes: list[NodeProfile], flow, producer_class: dict[str, str], i: int, cpu) -> bool:
    """Does ONNX Runtime run node i inside another kernel? On the CPU provider (`cpu`, ort_cpu.py) a convolution takes
    only its batch norm, its activation and (NCHWc) its Sum; a GEMM's or attention's epilogue as on the CUDA one."""
    if cpu is None:
        return _ort_fused(nodes, flow, producer_class, i)
    src = nodes[i].inputs[0] if nodes[i].inputs else ""
    return i in cpu.fused or i in cpu.eliminated or (producer_class.get(src) not in ("conv", "conv1x1", "depthwise")
                              and _ort_fused(nodes, flow, producer_class, i))


def _ort_fused(nodes: list[NodeProfile], flow, producer_class: dict[str, str], i: int) -> bool:
    n = nodes[i]
    if n.op_type == "BatchNormalization":  # ConvBNFusion: folded into the convolution's weights at load
        return producer_class.get(n.inputs[0]) in ("conv", "conv1x1", "depthwise") and flow.single_consumer(n.inputs[0]) == i
    return patterns.epilogue_fused(nodes, flow, producer_class, i)


def nchwc_block(hw) -> int:
    """Channels per block of ONNX Runtime's NCHWc CPU kernels on `hw` (MLAS: x86-64 only; 16 with AVX-512, 8 with
    AVX2, read from the profile's title or note), 0 for GPUs and Arm/Apple/phone/Jetson parts."""
    if hw.category != "cpu" or hw.family in ("arm", "apple", "phone", "jetson"):
        return 0
    text = f"{hw.title} {hw.note}".lower()
    return 16 if ("avx-512" in text or "avx512" in text) else 8
