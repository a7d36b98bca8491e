"""PyTorch modules -> the same ModelProfile record as the ONNX path, through fvcore's JIT tracing.

The only module (with measure/torch_backend.py) that imports torch and fvcore, lazily. fvcore counts one
fused multiply-add as one "flop" (fvcore issue #69): here those counts are `macs` explicitly, and every other
op gets the same FLOP rule as its ONNX handler (flops = 2 x macs + the rest). Ops without a rule are
counted in unsupported_ops and lower coverage, as in the ONNX path.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from typing import Any, Callable, Sequence

from ..errors import AnalyzerError, UsageError, echo, param
from ..records import ModelProfile, NodeProfile
from ..units import FLOPS_PER_MAC


def _need_torch():
    try:
        import fvcore  # noqa: F401
        import torch
    except ImportError:
        raise UsageError("the PyTorch front door needs the torch extra: pip install torch==2.13.0 && pip install -e '.[torch]'") from None
    return torch


# Views and metadata: no arithmetic and no copy (as ZERO_COST in analyzer/ops/registry.py).
VIEWS = {"aten::view", "aten::reshape", "aten::flatten", "aten::size", "aten::t", "aten::transpose", "aten::permute",
         "aten::contiguous", "aten::squeeze", "aten::unsqueeze", "aten::unsqueeze_", "aten::detach", "aten::dropout",
         "aten::Int", "aten::ScalarImplicit", "aten::type_as", "aten::select", "aten::slice", "aten::narrow", "aten::expand",
         "aten::split", "aten::split_with_sizes", "aten::chunk", "aten::unbind", "aten::to", "aten::alias", "aten::numel",
         "aten::expand_as", "aten::view_as", "aten::unflatten", "prim::Constant", "prim::ListConstruct", "prim::TupleConstruct",
         "prim::ListUnpack", "prim::TupleUnpack", "prim::NumToTensor"}
# Data movement: 0 flops, a known rule.
MOVEMENT = {"aten::cat", "aten::stack", "aten::gather", "aten::index", "aten::index_select", "aten::masked_fill",
            "aten::masked_fill_", "aten::constant_pad_nd", "aten::pad", "aten::copy_", "aten::roll", "aten::arange", "aten::zeros",
            "aten::zeros_like", "aten::ones", "aten::ones_like", "aten::full", "aten::full_like", "aten::empty", "aten::new_zeros",
            "aten::new_full", "aten::new_empty", "aten::embedding", "aten::triu", "aten::tril", "aten::repeat", "aten::clone",
            "aten::nonzero", "aten::scatter", "aten::where", "aten::eq", "aten::ne", "aten::ge", "aten::gt", "aten::le", "aten::lt",
            "aten::bitwise_not", "aten::__and__", "aten::logical_not", "aten::floor_divide", "aten::remainder", "aten::floor"}
# per output element, as the ONNX handlers' rules (analyzer/ops/elementwise.py, normalization.py)
PER_ELEMENT = {"aten::add": 1, "aten::add_": 1, "aten::sub": 1, "aten::sub_": 1, "aten::mul": 1, "aten::mul_": 1,
               "aten::div": 1, "aten::div_": 1, "aten::rsub": 1, "aten::pow": 1, "aten::neg": 1, "aten::abs": 1, "aten::exp": 1,
               "aten::log": 1, "aten::sqrt": 1, "aten::rsqrt": 1, "aten::reciprocal": 1, "aten::tanh": 1, "aten::tanh_": 1,
               "aten::erf": 1, "aten::sin": 1, "aten::cos": 1, "aten::relu": 1, "aten::relu_": 1, "aten::relu6": 2,
               "aten::hardtanh": 2, "aten::hardtanh_": 2, "aten::clamp": 2, "aten::clamp_": 2, "aten::clamp_min": 1,
               "aten::clamp_min_": 1, "aten::leaky_relu": 2, "aten::leaky_relu_": 2, "aten::elu": 3, "aten::sigmoid": 4,
               "aten::sigmoid_": 4, "aten::hardsigmoid": 4, "aten::hardsigmoid_": 4, "aten::hardswish": 5, "aten::hardswish_": 5,
               "aten::silu": 5, "aten::silu_": 5, "aten::mish": 5, "aten::softplus": 3, "aten::softmax": 5, "aten::log_softmax": 5,
               "aten::_softmax": 5, "aten::batch_norm": 2, "aten::cumsum": 1}
MAC_OPS = {"aten::_convolution", "aten::conv1d", "aten::conv2d", "aten::conv3d", "aten::convolution", "aten::linear",
           "aten::addmm", "aten::matmul", "aten::mm", "aten::bmm", "aten::baddbmm", "aten::einsum",
           "aten::scaled_dot_product_attention"}


def _shape(v) -> list[int] | None:
    from fvcore.nn.jit_handles import get_shape

    try:
        s = get_shape(v)
    except Exception:  # noqa: BLE001 - non-tensor values
        return None
    return [int(d) for d in s] if s is not None else None


def _ivalue(v):
    """A constant argument's value: prim::Constant, or a prim::ListConstruct of constants."""
    node = v.node()
    if node.kind() == "prim::ListConstruct":
        return [_ivalue(x) for x in node.inputs()]
    return v.toIValue()


def _numel(v) -> int:
    s = _shape(v)
    return math.prod(s) if s else 0


def _class_of(op: str) -> str:
    if op in MAC_OPS:
        return "gemm"
    if op in MOVEMENT:
        return "movement"
    return "elementwise"


def _handles(counts: Counter) -> dict[str, Callable]:
    """fvcore handles returning Counter({'macs:OP': n}) / Counter({'flops:OP': n}); each call is counted."""
    from fvcore.nn import jit_handles as jh

    def mac(op: str, fv: Callable, bias_idx: int | None) -> Callable:
        def h(inputs, outputs):
            counts[op] += 1
            r = fv(inputs, outputs)  # fvcore: one fused multiply-add = one "flop"; that is our MAC
            n = int(sum(r.values()) if isinstance(r, Counter) else r)
            bias = 0
            if bias_idx is not None and bias_idx < len(inputs) and _shape(inputs[bias_idx]) is not None:
                bias = _numel(outputs[0])  # one add per output, as the ONNX Conv/Gemm rule
            return Counter({f"macs:{op}": n, f"flops:{op}": bias})
        return h

    def sdpa(inputs, outputs):
        counts["aten::scaled_dot_product_attention"] += 1
        q, k, v = (_shape(x) for x in inputs[:3])
        scores = math.prod(q[:-1]) * k[-2]  # B x H x S x L
        macs = scores * (q[-1] + v[-1])
        return Counter({"macs:aten::scaled_dot_product_attention": macs,
                        "flops:aten::scaled_dot_product_attention": scores * 6})  # scale + softmax, as ONNX Attention

    def per_element(op: str, k: int) -> Callable:
        def h(inputs, outputs):
            counts[op] += 1
            return Counter({f"flops:{op}": k * _numel(outputs[0])})
        return h

    def zero(op: str) -> Callable:
        def h(inputs, outputs):
            counts[op] += 1
            return Counter()
        return h

    def gelu(inputs, outputs):
        counts["aten::gelu"] += 1
        approx = _ivalue(inputs[1]) if len(inputs) > 1 else "none"
        return Counter({"flops:aten::gelu": (9 if approx == "tanh" else 5) * _numel(outputs[0])})

    def layer_norm(inputs, outputs):  # 7 per element (with bias) + 3 per row, as ONNX LayerNormalization
        counts["aten::layer_norm"] += 1
        s = _shape(inputs[0]) or []
        norm = _shape(inputs[1]) if len(inputs) > 1 else None
        rows = math.prod(s[: len(s) - len(norm)]) if norm and s else 0
        return Counter({"flops:aten::layer_norm": 7 * _numel(outputs[0]) + 3 * rows})

    def group_norm(op: str) -> Callable:
        def h(inputs, outputs):
            counts[op] += 1
            s = _shape(inputs[0]) or [1, 1]
            return Counter({f"flops:{op}": 7 * _numel(outputs[0]) + 3 * s[0] * s[1]})
        return h

    def global_avg(inputs, outputs):  # adds per input element + a divide per output, as GlobalAveragePool
        counts["aten::adaptive_avg_pool2d"] += 1
        return Counter({"flops:aten::adaptive_avg_pool2d": _numel(inputs[0]) + _numel(outputs[0])})

    def mean(inputs, outputs):
        counts["aten::mean"] += 1
        return Counter({"flops:aten::mean": _numel(inputs[0]) + _numel(outputs[0])})

    def pool(op: str) -> Callable:
        def h(inputs, outputs):
            counts[op] += 1
            k = _ivalue(inputs[1]) if len(inputs) > 1 else [1]
            k = k if isinstance(k, (list, tuple)) else [k]
            if len(k) == 1:  # max_pool2d(kernel_size=3) means 3 x 3
                k = k * (len(_shape(inputs[0]) or [0, 0, 0, 0]) - 2)
            return Counter({f"flops:{op}": _numel(outputs[0]) * math.prod(int(x) for x in k)})
        return h

    handles: dict[str, Callable] = {
        "aten::_convolution": mac("aten::_convolution", jh.conv_flop_jit, 2),
        "aten::conv2d": mac("aten::conv2d", jh.conv_flop_jit, 2),
        "aten::linear": mac("aten::linear", jh.linear_flop_jit, 2),
        "aten::addmm": mac("aten::addmm", jh.addmm_flop_jit, None),
        "aten::matmul": mac("aten::matmul", jh.matmul_flop_jit, None),
        "aten::mm": mac("aten::mm", jh.matmul_flop_jit, None),
        "aten::bmm": mac("aten::bmm", jh.bmm_flop_jit, None),
        "aten::einsum": mac("aten::einsum", jh.einsum_flop_jit, None),
        "aten::scaled_dot_product_attention": sdpa,
        "aten::gelu": gelu, "aten::layer_norm": layer_norm, "aten::group_norm": group_norm("aten::group_norm"),
        "aten::instance_norm": group_norm("aten::instance_norm"), "aten::adaptive_avg_pool2d": global_avg, "aten::mean": mean,
        "aten::max_pool2d": pool("aten::max_pool2d"), "aten::avg_pool2d": pool("aten::avg_pool2d"),
    }
    handles.update({op: per_element(op, k) for op, k in PER_ELEMENT.items()})
    handles.update({op: zero(op) for op in MOVEMENT})
    return handles


def profile_torch(module: Any, example_inputs: Sequence[Any], *, name: str | None = None, per_op: bool = False,
                  scan_sparsity: bool = True) -> ModelProfile:
    """Profile `module(*example_inputs)` with fvcore; returns the ONNX path's ModelProfile record.
    params count module.parameters() (BatchNorm running statistics are buffers, as in ONNX)."""
    from ..checks import check_bool, check_text

    torch = _need_torch()
    from fvcore.nn.jit_analysis import JitModelAnalysis

    if not isinstance(module, torch.nn.Module):
        raise UsageError(f"{param('module')} {echo(module)}: must be a torch.nn.Module, not {type(module).__name__}")
    if isinstance(example_inputs, torch.Tensor):  # one input: never iterated over its first dim
        example_inputs = (example_inputs,)
    if isinstance(example_inputs, (str, bytes, dict)) or not isinstance(example_inputs, Sequence):
        raise UsageError(f"{param('example_inputs')} {echo(example_inputs)}: must be a tensor or a tuple of the module's "
                         f"inputs, not {type(example_inputs).__name__}")
    check_text("name", name, optional=True)
    check_bool("per_op", per_op)
    check_bool("scan_sparsity", scan_sparsity)
    module = module.eval()
    if isinstance(module, torch.jit.ScriptModule):
        raise UsageError("a TorchScript module cannot be traced by fvcore (it refuses module hooks); profile it through "
                         "its ONNX export (the CLI does this for TorchScript files)")
    inputs = tuple(example_inputs)
    counts: Counter = Counter()
    try:
        with torch.no_grad():
            analysis = JitModelAnalysis(module, inputs).set_op_handle(**_handles(counts))
            analysis._ignored_ops = set(VIEWS)  # fvcore 0.1.5 ignores relu/clamp too; we count them
            analysis.unsupported_ops_warnings(False)
            analysis.uncalled_modules_warnings(False)
            analysis.tracer_warnings("none")
            by_op = analysis.by_operator()
            unsupported = dict(analysis.unsupported_ops())
            by_module_op = analysis.by_module_and_operator() if per_op else {}
    except AnalyzerError:
        raise
    except Exception as e:  # noqa: BLE001 - tracing user code fails in many ways; one line for the user
        import os
        if os.environ.get("NAS_ANALYZER_DEBUG"):
            raise
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise AnalyzerError(f"{name or type(module).__name__}: cannot trace the module on these inputs ({type(e).__name__}: {first})") from None
    macs = sum(v for k, v in by_op.items() if k.startswith("macs:"))
    other = sum(v for k, v in by_op.items() if k.startswith("flops:"))
    totals: dict[str, dict[str, int]] = {}
    for k, v in by_op.items():
        kind, op = k.split(":", 1)
        t = totals.setdefault(op, {"count": counts.get(op, 0), "macs": 0, "flops": 0, "bytes": 0})
        if kind == "macs":
            t["macs"] += int(v)
            t["flops"] += FLOPS_PER_MAC * int(v)
        else:
            t["flops"] += int(v)
    for op, c in counts.items():
        totals.setdefault(op, {"count": c, "macs": 0, "flops": 0, "bytes": 0})
    known = sum(counts.values())
    total_nodes = known + sum(unsupported.values())
    params = sum(p.numel() for p in module.parameters())
    weight_bytes = sum(t.numel() * t.element_size() for t in module.state_dict().values())
    ws, nm = _sparsity(module, torch) if scan_sparsity else (None, None)
    records = None
    if per_op:
        records = []
        for mod, ops in sorted(by_module_op.items()):
            if not mod or any(m.startswith(mod + ".") for m in by_module_op if m != mod):
                continue  # leaf modules only, so each count appears once
            for k, v in ops.items():
                kind, op = k.split(":", 1)
                m_ = int(v) if kind == "macs" else 0
                records.append(NodeProfile(mod, op, _class_of(op), m_, FLOPS_PER_MAC * m_ if kind == "macs" else int(v), 0, 0, [], True))
    notes = [f"unsupported op {op} x{n}: its work is not counted" for op, n in sorted(unsupported.items())]
    notes.append("bytes moved are not traced on the PyTorch path (activation_bytes = 0); export to ONNX for them")
    return ModelProfile(
        model=name or type(module).__name__, sha256=module_sha256(module), opset=0,
        batch=int(inputs[0].shape[0]) if inputs and hasattr(inputs[0], "shape") and inputs[0].dim() else None,
        params=params, macs=int(macs), flops=int(FLOPS_PER_MAC * macs + other), weight_bytes=weight_bytes, activation_bytes=0,
        weight_read_bytes=0, bytes_moved=0, arithmetic_intensity=0.0, weight_sparsity=ws, nm_sparsity=nm,
        coverage=known / total_nodes if total_nodes else 1.0, nodes=total_nodes, unsupported_ops=unsupported,
        op_type_totals=dict(sorted(totals.items())), notes=notes, per_op=records)


def _sparsity(module, torch) -> tuple[float | None, float | None]:
    """Zeros over all parameters; 2:4 groups along the reduction axis (dim 1) of Conv and Linear weights."""
    total = zeros = eligible = grouped = 0
    with torch.no_grad():
        for p in module.parameters():
            total += p.numel()
            zeros += int((p == 0).sum())
        for m in module.modules():
            if isinstance(m, (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d, torch.nn.Linear)):
                w = m.weight
                eligible += w.numel()
                length = w.shape[1]
                full = (length // 4) * 4
                if full:
                    z = (w == 0).movedim(1, -1)[..., :full].reshape(-1, 4).sum(-1)
                    grouped += 4 * int((z >= 2).sum())
    return (zeros / total if total else None), (grouped / eligible if eligible else None)


# ---- loading modules from files ----------------------------------------------------------------------------


def is_torch_spec(arg: str) -> bool:
    """FILE.py:factory, or a TorchScript / PyTorch file."""
    head, sep, _ = arg.rpartition(":")
    return (bool(sep) and head.endswith(".py")) or arg.endswith((".pt", ".pth", ".ts", ".torchscript"))


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0]}" if text else type(e).__name__


def load_factory(spec: str) -> tuple[Any, tuple, str]:
    """Run FILE.py's `factory()` (the user's own code, named on the command line) -> (module, inputs, name).
    The factory returns (module, example_inputs) with example_inputs a tensor or a tuple of tensors."""
    from .user_code import load_attr

    _need_torch()
    path, func, factory = load_attr(spec, "function")  # runs FILE.py's top-level code (user_code.py says when, and why)
    if not callable(factory):
        raise UsageError(f"{path}: '{func}' is not a function")
    try:
        result = factory()
    except Exception as e:  # noqa: BLE001
        raise AnalyzerError(f"{spec}: the factory failed ({_first_line(e)})") from None
    if not (isinstance(result, tuple) and len(result) == 2):
        raise UsageError(f"{spec}: the factory must return (module, example_inputs)")
    module, inputs = result
    return module, inputs if isinstance(inputs, tuple) else (inputs,), f"{path.name}:{func}"


def load_torch_file(path_text: str, input_shapes: list[list[int]], trust_pickle: bool = False) -> tuple[Any, tuple, str]:
    """A TorchScript archive (no pickled Python code runs), or with trust_pickle a whole pickled module.
    State dicts hold no architecture and are refused with the way out; weights_only loading is tried
    first so that nothing is unpickled unless the user said so."""
    import pickle
    from pathlib import Path

    torch = _need_torch()
    path = Path(path_text)
    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    if not input_shapes:
        raise UsageError(f"{path}: give {param('input_shape')} (e.g. {param('input_shape')} 1,3,224,224) for a module loaded from a file")
    inputs = tuple(torch.randn(*s) for s in input_shapes)
    try:
        return torch.jit.load(str(path), map_location="cpu").eval(), inputs, path.name
    except Exception:  # noqa: BLE001 - not TorchScript: try the safe loader next
        pass
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, AttributeError, TypeError, ValueError, EOFError) as e:
        if not trust_pickle:
            raise AnalyzerError(f"{path}: loading it would run arbitrary pickled code ({_first_line(e)}); refused. "
                                f"Pass {param('trust_pickle')} only for a file you trust, or use FILE.py:factory") from None
        try:
            obj = torch.load(str(path), map_location="cpu", weights_only=False)
        except Exception as e2:  # noqa: BLE001
            raise AnalyzerError(f"{path}: cannot load ({_first_line(e2)})") from None
    if isinstance(obj, torch.nn.Module):
        return obj.eval(), inputs, path.name
    raise UsageError(f"{path}: holds {type(obj).__name__} (a state dict?), not a module; it has no architecture to count. "
                     "Use FILE.py:factory that builds the module and loads it (torch.load(..., weights_only=True))")


def export_onnx(module: Any, inputs: tuple, out: str) -> None:
    """torch.onnx.export (TorchScript exporter, opset 17) for the cross-check."""
    import warnings

    torch = _need_torch()
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(module, inputs, out, dynamo=False, opset_version=17)
    except Exception as e:  # noqa: BLE001
        raise AnalyzerError(f"export to {out} failed ({_first_line(e)})") from None


def module_sha256(module: Any) -> str:
    """Hash of the module's structure and every parameter and buffer, so stored measurements key on the model."""
    import torch
    h = hashlib.sha256(repr(module).encode())
    for name, t in list(module.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().view(-1).view(dtype=torch.uint8).numpy().tobytes())
    return h.hexdigest()


def is_script_module(module: Any) -> bool:
    import torch

    return isinstance(module, torch.jit.ScriptModule)
