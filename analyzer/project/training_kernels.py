"""The kernels of a training step as eager PyTorch launches them (issue #18): the projection in
`analyzer.project.training` times them on the same kernel model as inference.

A training step in eager PyTorch is the forward (as `plan_kernels` gives it for the eager runtime, with
training-mode normalisation), the backward the autograd engine runs in reverse order, and the optimizer
step. Per forward kernel, the backward launches (Goyal et al. 2017, cuDNN's dgrad/wgrad; the FLOP rule of
Kaplan et al. 2020: backward = 2x forward for matrix work):

- a convolution or GEMM with weights: the gradient of its input (dgrad: the same multiply-accumulates as
  the forward, reading the output's gradient and the weights, writing the input's gradient) and of its
  weights (wgrad: the same multiply-accumulates, reading the input and the output's gradient, writing the
  weights' gradient); the first one, reading the model's input, needs no dgrad;
- attention (fused SDPA): one kernel of 2.5x the forward's FLOPs (FlashAttention-2's backward recomputes
  the attention matrix: 5 matmuls to the forward's 2);
- elementwise, pooling and layout kernels: one kernel reading the output's gradient and what the forward
  saved, writing the input's gradient (1.5x the forward's traffic, the same FLOPs);
- a normalisation in training mode: the forward computes the batch statistics first (a reduction over its
  input, 1.5x the inference traffic), and the backward is a reduction of the gradients and an elementwise
  pass (2.5x the input's traffic). A batch norm runs where PyTorch dispatches it (`batch_norm_backend`):
  cuDNN for fp32 and fp16 autocast, PyTorch's own kernels for bf16, whose statistics and backward launch one
  512-thread block per channel: a grid that fills a fraction of the chip (`Kernel.grid_threads`), so a
  bf16 step can be slower than an fp32 one (measured so for mobile networks, see the README).

The optimizer (PyTorch's default foreach implementation on CUDA) makes passes over every parameter: SGD with
momentum 3 (24 bytes a parameter), Adam 7 (72 bytes a parameter: torch.optim._multi_tensor_adam's
lerp, mul, addcmul, sqrt, div, add and addcdiv), RMSProp 5 (52 bytes; 7 and 72 with momentum), Adagrad 5 (52
bytes), each from the foreach update rule (OPTIMIZER_PASSES), each pass a multi-tensor kernel per ~110 tensors. Mixed
precision (autocast bf16/fp16) keeps fp32 master weights: each step casts every weight to 16 bits (one
kernel per weight tensor, 6 bytes a parameter) and the cast's backward turns each weight's gradient back to
fp32 (6 bytes a parameter); autocast casts only the inputs of the operators on its 16-bit list (convolutions,
linear, matmul), never a normalisation's parameters. The optimizer's traffic stays fp32. Host work: each backward operator is
issued by the autograd engine at the forward operator's eager cost (an assumption, said in the output).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from ..errors import UsageError, param
from .kernels import TENSOR_CLASSES, Kernel, KernelPlan, plan_kernels
from .kernels.graph import at_full_batch, numel
from ..records import ModelProfile
from ..taxonomy import OPTIMIZERS, TRAINING_PRECISIONS
from ..units import FP32_BYTES

# foreach passes over the parameters and bytes moved per parameter (fp32 state), per optimizer
OPTIMIZER_PASSES = {"sgd": (1, 12), "sgd-momentum": (3, 24), "adam": (7, 72), "adamw": (8, 80),
                    # torch/optim/rmsprop.py, _multi_tensor_rmsprop (alpha 0.99, eps 1e-8): v = alpha v (mul_, 8 B),
                    # v += (1 - alpha) g g (addcmul_, 12 B), avg = sqrt(v) (8 B), avg += eps (add_, 8 B),
                    # p -= lr g / avg (addcdiv_, 16 B)
                    "rmsprop": (5, 52),
                    # momentum > 0: the last pass becomes buf = m buf (mul_, 8 B), buf += g / avg (addcdiv_, 16 B),
                    # p -= lr buf (add_, 12 B)
                    "rmsprop-momentum": (7, 72),
                    # torch/optim/adagrad.py, _multi_tensor_adagrad (eps 1e-10, no decay): s += g g (addcmul_, 12 B),
                    # std = sqrt(s) (8 B), std += eps (add_, 8 B), num = -clr g (mul, 8 B), p += num / std (addcdiv_, 16 B)
                    "adagrad": (5, 52)}
# FLOPs per parameter per step where the update rule is counted (a multiply-add is 2; sqrt and divide 1 each):
# rmsprop 1 + 3 + 1 + 1 + 3; rmsprop-momentum 1 + 3 + 1 + 1 + 1 + 3 + 2; adagrad 2 + 1 + 1 + 1 + 2. The others
# are charged 2 per parameter, as before (their passes are memory-bound either way)
OPTIMIZER_FLOPS = {"rmsprop": 9, "rmsprop-momentum": 12, "adagrad": 7}
assert tuple(OPTIMIZER_PASSES) == OPTIMIZERS  # every optimizer the target accepts has its passes here
PRECISIONS = TRAINING_PRECISIONS
TENSORS_PER_FOREACH_KERNEL = 110  # torch's multi_tensor_apply depth-1 list size (MultiTensorApply.cuh)
ATTENTION_BACKWARD_FLOPS = 2.5
ACTIVATION_BACKWARD_BYTES = 1.5
NORM_FORWARD_BYTES, NORM_BACKWARD_BYTES = 1.5, 2.5


_MATRIX_OPS = frozenset({"conv", "depthwise_conv", "grouped_conv", "conv_transpose", "depthwise_conv_transpose", "gemm"})
# a normalisation's learned inputs; BatchNormalization's 4th and 5th (running mean and variance) are buffers
_NORM_PARAMETER_INPUTS = {"BatchNormalization": (1, 2), "LayerNormalization": (1, 2), "InstanceNormalization": (1, 2),
                          "GroupNormalization": (1, 2)}


def normalisation_folded(profile: ModelProfile) -> bool:
    """Whether the graph has convolutions or GEMMs but no normalisation: an inference export may have folded
    its batch norms into the convolutions, whose training cost the step then leaves out."""
    ops = profile.per_op or []
    return any(n.op_class in _MATRIX_OPS for n in ops) and not any(n.op_type in _NORM_PARAMETER_INPUTS for n in ops)


def _initializer_sizes(node: Any, positions: Any = None) -> list[int]:
    shapes = node.input_shapes or []
    return [math.prod(d for d in shapes[i] if isinstance(d, int))
            for i, is_init in enumerate(node.initializer_inputs)
            if is_init and i < len(shapes) and shapes[i] and (positions is None or i in positions)]


def parameter_tensors(profile: ModelProfile) -> tuple[list[int], list[int]]:
    """(elements of every parameter tensor, of those autocast casts to 16 bits). Parameters: the weights and
    biases of convolutions and GEMMs and the scale and shift of normalisations (not batch norm's running
    statistics, which are buffers). Autocast casts only the inputs of the operators on its lower-precision
    list (convolutions, linear, matmul); a batch norm keeps its fp32 parameters and runs mixed."""
    params: list[int] = []
    cast: list[int] = []
    for node in profile.per_op or []:
        if node.op_class in _MATRIX_OPS or node.op_type in ("Gemm", "MatMul"):
            sizes = [n for n in _initializer_sizes(node) if n > 1]
            params += sizes
            cast += sizes
        elif node.op_type in _NORM_PARAMETER_INPUTS:
            params += [n for n in _initializer_sizes(node, _NORM_PARAMETER_INPUTS[node.op_type]) if n > 1]
    return params, cast


def batch_norm_backend(precision: str) -> str:
    """Which library runs a training batch norm in eager PyTorch on CUDA (`_select_batch_norm_backend`,
    aten/src/ATen/native/Normalization.cpp): cuDNN unless the input or weight is bf16, or the input is fp16 with
    fp16 weights. Under autocast the weights stay fp32, so fp32 and fp16 run cuDNN, bf16 runs PyTorch's own."""
    return "native" if precision == "bf16" else "cudnn"


# PyTorch's native NCHW batch norm (aten/src/ATen/native/cuda/Normalization.cuh): the statistics and the
# backward kernels launch one block per channel of MAX_BLOCK_SIZE threads
NATIVE_BN_BLOCK_THREADS = 512


def _batch_norm_training(node: Any, backend: str, channels_last: bool = False) -> tuple[list[Kernel], list[Kernel]]:
    """A training batch norm's forward and backward kernels (bytes stated at fp32 size, as every kernel's).
    cuDNN: one forward kernel computing the batch statistics and normalising (1.5x the inference traffic), a
    backward reduction and elementwise pass. PyTorch's native kernels (bf16): the statistics over each channel
    (one block per channel: reads x), the running statistics' update and inversion (one tiny kernel), the
    normalisation (reads x, writes y; a grid sized to the tensor); one fused backward kernel, again one block
    per channel, that reduces the gradients and then writes the input's gradient (reads x and dy twice,
    writes dx). Channels-last (kernels/__init__.py, MEMORY_FORMATS): cuDNN's CUDNN_BATCHNORM_SPATIAL_PERSISTENT NHWC
    kernels (PyTorch's native channels-last kernels for bf16 likewise vectorise over the contiguous channels), the
    same traffic as cuDNN's NCHW kernels (statistics and normalisation 1.5x the inference traffic; the backward a
    reduction of x and dy, then a pass reading x and dy and writing dx) in the streaming (elementwise) class: a
    ResNet-50 activation at batch 256 (25-400 MB) is larger than any L2, so the persistent kernel cannot keep x on
    chip between its passes."""
    out = node.output_shapes[0] if node.output_shapes else []
    elements = float(numel(out))
    channels = float(out[1]) if len(out) > 1 and isinstance(out[1], int) else 0.0
    if channels_last:
        fwd = Kernel(node.name, "bn:nhwc", "elementwise", node.flops, NORM_FORWARD_BYTES * node.bytes, "norm")
        return [fwd], [Kernel(node.name, "bn:nhwc:grad-reduce", "elementwise", node.flops, node.bytes, "norm"),
                       Kernel(node.name, "bn:nhwc:grad", "elementwise", node.flops, 1.5 * node.bytes, "")]
    if backend == "cudnn":
        fwd = Kernel(node.name, node.op_type, "bn", node.flops, NORM_FORWARD_BYTES * node.bytes, "norm")
        return [fwd], _normalisation_backward(fwd)
    per_channel = channels * NATIVE_BN_BLOCK_THREADS
    fwd = [Kernel(node.name, "bn:stats", "bn", node.flops, FP32_BYTES * elements, "norm", grid_threads=per_channel),
           Kernel(node.name, "bn:update-invstd", "aux", 0.0, FP32_BYTES * 4 * channels),
           Kernel(node.name, "bn:transform", "bn", node.flops, 8.0 * elements)]
    return fwd, [Kernel(node.name, "bn:backward", "bn", 2 * node.flops, 20.0 * elements, "norm", grid_threads=per_channel)]


def depthwise_backend(precision: str) -> str:
    """Which kernels run a depthwise convolution in eager PyTorch on CUDA (`_select_conv_backend`,
    `use_cudnn_depthwise` in aten/src/ATen/native/Convolution.cpp): cuDNN only for fp16 input and weights
    (autocast fp16 casts both), PyTorch's own `conv_depthwise2d` kernels otherwise (fp32, bf16)."""
    return "cudnn" if precision == "fp16" else "native"


# DepthwiseConv2d.cu: the weight gradient launches one block per (channel, filter tap) of up to 256 threads
# (a warp per batch item), each reducing over the batch and the output's pixels
NATIVE_DW_WGRAD_MAX_THREADS = 256


def _depthwise_backward(k: Kernel, node: Any, first: bool) -> list[Kernel]:
    """PyTorch's native depthwise backward: the input's gradient (one thread per input element, k x k taps of
    the output's gradient: the forward's work) and the weights' gradient, which loads for every output element
    and tap one input and one gradient element, twice the forward's loads, in a grid of channels x taps blocks."""
    w = node.input_shapes[1] if len(node.input_shapes) > 1 else []
    x = node.input_shapes[0] if node.input_shapes else []
    taps = numel(list(w[2:])) if len(w) > 2 else 1
    batch = x[0] if x and isinstance(x[0], int) else 1
    threads = min(32 * batch, NATIVE_DW_WGRAD_MAX_THREADS)
    wgrad = Kernel(k.op, f"{k.op_type}:wgrad", k.kclass, 2 * k.flops, 2 * k.bytes, "" if not first else k.host, False,
                   k.outputs, grid_threads=float((w[0] if w and isinstance(w[0], int) else 1) * taps * threads))
    if first:
        return [wgrad]
    return [Kernel(k.op, f"{k.op_type}:dgrad", k.kclass, k.flops, k.bytes, k.host, k.weights, k.outputs), wgrad]


def _binary_backward(k: Kernel, node: Any) -> list[Kernel]:
    """What autograd launches for an elementwise Add, Sub, Mul or Div (derivatives.yaml; a gradient whose
    operand was broadcast is summed back to its shape, `sum_to_size`): Add passes the output's gradient on
    unchanged (no kernel) and Sub negates its second operand's; Mul and Div compute each operand's gradient
    from the output's gradient and the other operand (Div's second also reads the first), one full-size kernel
    each; a broadcast operand's gradient is then reduced. Scalars (constants) get no gradient; other inputs,
    parameters included, do. Bytes at fp32 size, as every kernel's."""
    out = node.output_shapes[0] if node.output_shapes else []
    e = float(numel(out))
    sizes = [float(numel(sh)) if sh is not None else 0.0 for sh in (node.input_shapes or [])][:2]
    ks: list[Kernel] = []
    for i, n in enumerate(sizes):
        if n <= 1:
            continue
        other = sizes[1 - i] if len(sizes) == 2 else 0.0
        if node.op_type in ("Mul", "Div"):
            extra = e if node.op_type == "Div" and i == 1 else 0.0
            ks.append(Kernel(k.op, f"{node.op_type}:grad{i}", "elementwise", e, FP32_BYTES * (2 * e + other + extra)))
        elif node.op_type == "Sub" and i == 1:
            ks.append(Kernel(k.op, "Sub:grad1", "elementwise", e, 8 * e))
        if n < e:  # the operand was broadcast: its gradient is summed over the broadcast dims
            ks.append(Kernel(k.op, f"{node.op_type}:grad{i}-reduce", "reduce", e, FP32_BYTES * (e + n)))
    return [replace(x, host=k.host if j == 0 else "") for j, x in enumerate(ks)]


def _bias_backward(k: Kernel, node: Any) -> list[Kernel]:
    """A convolution's separate bias add: its input's gradient passes on unchanged; the bias's gradient sums
    the output's gradient over the batch and the pixels (one reduction)."""
    out = node.output_shapes[0] if node.output_shapes else []
    e, c = float(numel(out)), float(out[1]) if len(out) > 1 and isinstance(out[1], int) else 1.0
    return [Kernel(k.op, "bias:grad", "reduce", e, FP32_BYTES * (e + c), k.host)]


def _normalisation_backward(k: Kernel) -> list[Kernel]:
    """A normalisation's backward (layer norm; batch norm on cuDNN), from its training forward kernel `k` (whose
    traffic is NORM_FORWARD_BYTES x the inference kernel's x-read-and-y-written): a reduction of the gradients
    reading x and dy (the inference traffic), then an elementwise pass reading x and dy and writing dx (1.5x it):
    two passes over the data, NORM_BACKWARD_BYTES x the inference traffic in all (cuDNN's
    cudnnBatchNormalizationBackward; PyTorch's layer_norm_backward_cuda: its gamma/beta reduction, then dx)."""
    inference = k.bytes / NORM_FORWARD_BYTES
    return [Kernel(k.op, f"{k.op_type}:grad-reduce", "reduce", k.flops, inference, k.host),
            Kernel(k.op, f"{k.op_type}:grad", "elementwise", k.flops, (NORM_BACKWARD_BYTES - 1.0) * inference, "")]


def _backward(k: Kernel, first_with_weights: bool) -> list[Kernel]:
    host = k.host or ""
    if (k.kclass in TENSOR_CLASSES and k.kclass != "attention") or k.kclass == "depthwise":
        if k.weights or k.kclass == "depthwise":
            # cuDNN has Winograd for the data and filter gradients of a 3 x 3 convolution too
            wgrad = Kernel(k.op, f"{k.op_type}:wgrad", k.kclass, k.flops, k.bytes, "", False, k.outputs, winograd=k.winograd)
            if first_with_weights:  # the model's input needs no gradient
                return [replace(wgrad, host=host)]
            return [Kernel(k.op, f"{k.op_type}:dgrad", k.kclass, k.flops, k.bytes, host, k.weights, k.outputs,
                           winograd=k.winograd), wgrad]
        # a product of two activations: the gradient of each
        return [Kernel(k.op, f"{k.op_type}:grad", k.kclass, 2 * k.flops, 2 * k.bytes, host, False, k.outputs)]
    if k.kclass == "attention":
        return [Kernel(k.op, "attention:backward", "attention", ATTENTION_BACKWARD_FLOPS * k.flops, 2 * k.bytes, host,
                       False, k.outputs)]
    if k.kclass == "norm":
        return _normalisation_backward(k)
    return [Kernel(k.op, f"{k.op_type}:grad", k.kclass, k.flops, ACTIVATION_BACKWARD_BYTES * k.bytes, host)]


# torch.autocast's CUDA op lists (torch/csrc/autograd/autocast_mode / the AMP docs), as ONNX operators: the
# 16-bit list's inputs are cast to 16 bits, the fp32 list's to fp32; other operators run in their inputs'
# widest type (type promotion: a non-scalar fp32 operand makes the result fp32), a batch norm in its input's,
# a reshape, transpose or slice in its data's
AUTOCAST_16 = frozenset({"Conv", "ConvTranspose", "Gemm", "MatMul", "Einsum"})
AUTOCAST_32 = frozenset({"LayerNormalization", "GroupNormalization", "Softmax", "LogSoftmax", "Exp", "Log", "Pow",
                         "Reciprocal", "Softplus", "ReduceSum", "ReduceProd", "ReduceLogSumExp", "CumSum"})
_CAST_TO = {1: "32", 10: "16", 16: "16"}  # ONNX Cast's `to`: FLOAT, FLOAT16, BFLOAT16
_FLOAT_TYPES = frozenset({"float32", "float16", "bfloat16", "float64"})


def autocast_activations(profile: ModelProfile) -> dict[str, tuple[bool, list[tuple[int, bool]]]]:
    """Per node under autocast: whether it runs in fp32, and each activation input cast first as (elements,
    whether its gradient is cast back: not for the graph's own inputs). The graph's inputs (what no node
    produces) are fp32 (an image batch), initializers fp32 parameters; a scalar never promotes."""
    dtype: dict[str, str] = {}
    matrix_outputs: set[str] = set()
    out: dict[str, tuple[bool, list[tuple[int, bool]]]] = {}
    for n in profile.per_op or []:
        shapes = n.input_shapes or []
        # integer inputs (indices, axes, shapes) are neither activations autocast casts nor fp32 parameters: an
        # exporter that passes ReduceMean's axes as an input must not make the mean fp32
        real = [not n.input_dtypes or i >= len(n.input_dtypes) or n.input_dtypes[i] in _FLOAT_TYPES
                for i in range(len(n.inputs))]
        # (dtype, elements, produced by a node) of each activation input
        acts = [(dtype.get(name, "32"), numel(shapes[i]) if i < len(shapes) else 0, name in dtype)
                for i, name in enumerate(n.inputs)
                if name and real[i] and not (i < len(n.initializer_inputs) and n.initializer_inputs[i])]
        params32 = any(is_init and real[i] and i < len(shapes) and shapes[i] and numel(shapes[i]) > 1
                       for i, is_init in enumerate(n.initializer_inputs))
        if n.op_type in AUTOCAST_16 or n.op_class in _MATRIX_OPS:
            result, casts = "16", [(e, grad) for d, e, grad in acts if d == "32" and e > 1]
            matrix_outputs.update(n.outputs)
        elif n.op_type == "Add" and set(n.inputs) & matrix_outputs and all(
                len(sh) <= 1 for sh, is_init in zip(shapes, n.initializer_inputs) if is_init and sh):
            result, casts = "16", []  # a linear layer's bias, exported as its own Add: inside the 16-bit op
        elif n.op_type in AUTOCAST_32:
            result, casts = "32", [(e, grad) for d, e, grad in acts if d == "16" and e > 1]
        elif n.op_type == "BatchNormalization":
            result, casts = (acts[0][0] if acts else "32"), []
        elif n.op_type == "Cast":
            result, casts = _CAST_TO.get(int(n.attrs.get("to", 1)), "32"), []
        elif n.op_class in ("movement", "view") and n.op_type not in ("Concat", "Shape", "ConstantOfShape"):
            first = n.inputs[0] if n.inputs else ""
            result = "32" if (n.initializer_inputs[:1] == [True]) else dtype.get(first, "32")
            casts = []
        else:
            result = "32" if params32 or any(d == "32" and e > 1 for d, e, _ in acts) else "16"
            casts = []
        for name in n.outputs:
            dtype[name] = result
        out[n.name] = (result == "32", casts)
    return out


def training_plan(profile: ModelProfile, precision: str, optimizer: str, gpu: bool, bytes_scale: float,
                  memory_format: str = "nchw") -> tuple[KernelPlan, int, int, int, int]:
    """(the step's kernels, forward, backward, optimizer kernel counts, parameter tensors). `bytes_scale` is
    the projection's (0.5 for 16-bit compute): fp32 optimizer and master-weight traffic is stated so that
    after that scaling it is what moves. `memory_format`: as plan_kernels'."""
    if optimizer not in OPTIMIZERS:
        raise UsageError(f"{param('optimizer')} '{optimizer}': expected one of {', '.join(OPTIMIZERS)}")
    if precision not in PRECISIONS:
        raise UsageError(f"{param('precision')} '{precision}': expected one of {', '.join(PRECISIONS)}")
    if profile.shape_scale != 1:  # shapes of one item (constants pin the batch): the whole batch's, as it trains
        profile = replace(profile, per_op=at_full_batch(profile.per_op or [], profile.shape_scale), shape_scale=1)
    fwd_plan = plan_kernels(profile, "eager", precision, gpu, memory_format=memory_format)
    channels_last = gpu and memory_format == "channels-last"
    nodes = {n.name: n for n in profile.per_op or []}
    batch_norms = {name: n for name, n in nodes.items() if n.op_type == "BatchNormalization"}
    backend = batch_norm_backend(precision) if gpu else "cudnn"
    depthwise = {name: n for name, n in nodes.items() if n.op_class == "depthwise_conv"} \
        if gpu and depthwise_backend(precision) == "native" else {}
    fp32 = 1.0 / bytes_scale  # bytes that stay fp32 whatever the compute dtype
    autocast = autocast_activations(profile) if gpu and precision != "fp32" else {}
    # (forward kernel, its backward kernels or None for the rule by class, byte factor of both); a batch norm's
    # training kernels replace its inference ones; autocast's activation casts go before their operator
    steps: list[tuple[Kernel, list[Kernel] | None, float]] = []
    cast_done: set[str] = set()
    for k in fwd_plan.kernels:
        runs32, casts = autocast.get(k.op, (False, []))
        if k.op not in cast_done:
            cast_done.add(k.op)
            # 2 bytes read and 4 written per element or the reverse; its backward casts the gradient back
            for e, grad in casts:
                cast = Kernel(k.op, "cast:activation", "elementwise", 0.0, 6 * e * fp32, "elementwise")
                steps.append((cast, [replace(cast, op_type="cast:activation-grad")] if grad else [], 1.0))
        scale = fp32 if runs32 else 1.0
        node = batch_norms.get(k.op)
        if node is None:
            steps.append((replace(k, bytes=k.bytes * NORM_FORWARD_BYTES) if k.kclass == "norm" else k, None, scale))
        elif k.kclass == "bn" or k.op_type == "bn:nhwc":
            f, b = _batch_norm_training(node, backend, channels_last)
            steps += [(x, b if i == 0 else [], scale) for i, x in enumerate(f)]
    steps = [(replace(k, bytes=k.bytes * f), None if b is None else [replace(x, bytes=x.bytes * f) for x in b], f)
             for k, b, f in steps]
    fwd = [k for k, _, _ in steps]
    first = next((i for i, k in enumerate(fwd) if k.weights or k.kclass == "depthwise"), None)
    bwd: list[Kernel] = []
    for i in range(len(steps) - 1, -1, -1):
        k, known, factor = steps[i]
        if known is None and k.kclass == "depthwise" and k.op in depthwise:
            known = _depthwise_backward(k, depthwise[k.op], i == first)
        elif known is None and k.op in nodes and k.op_type == nodes[k.op].op_type in ("Add", "Sub", "Mul", "Div"):
            known = [replace(x, bytes=x.bytes * factor) for x in _binary_backward(k, nodes[k.op])]
        elif known is None and k.op_type == "bias add" and k.op in nodes:
            known = [replace(x, bytes=x.bytes * factor) for x in _bias_backward(k, nodes[k.op])]
        bwd += _backward(k, i == first) if known is None else known
    sizes, cast = parameter_tensors(profile)
    tensors = len(sizes)
    params = profile.params
    passes, per_param = OPTIMIZER_PASSES[optimizer]
    launches = max(1, math.ceil(tensors / TENSORS_PER_FOREACH_KERNEL))
    flops = OPTIMIZER_FLOPS.get(optimizer, 2) * params
    opt = [Kernel("optimizer", f"{optimizer}:pass{p + 1}", "elementwise", flops / passes,
                  per_param * params / passes * fp32 / launches, "elementwise" if j == 0 else "")
           for p in range(passes) for j in range(launches)]
    casts: list[Kernel] = []
    if precision != "fp32" and cast:
        # each cast reads 4 bytes and writes 2 per element, forward (the weight) and backward (its gradient)
        casts = [Kernel("autocast", "cast:weight->16", "elementwise", 0.0, 6 * n * fp32, "elementwise") for n in cast]
        bwd += [Kernel("autocast", "cast:grad->32", "elementwise", 0.0, 6 * n * fp32, "elementwise") for n in cast]
    kernels = tuple(casts + fwd + bwd + opt)
    plan = KernelPlan("eager", kernels, fwd_plan.host_nodes, fwd_plan.view_nodes, fwd_plan.fused_nodes,
                      fwd_plan.unsupported_nodes, fwd_plan.rules, fwd_plan.weight_bytes)
    return plan, len(casts) + len(fwd), len(bwd), len(opt), tensors
