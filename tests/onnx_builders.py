"""Build small ONNX models in code for closed-form tests (one node, or a few)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from analyzer import profile_onnx
from analyzer.records import ModelProfile


def vi(name: str, shape: Sequence[int | str] | None, elem: int = TensorProto.FLOAT) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem, None if shape is None else list(shape))


def init(name: str, arr: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(arr), name)


def model(nodes: list[onnx.NodeProto], inputs: list[onnx.ValueInfoProto], outputs: list[onnx.ValueInfoProto],
          initializers: Sequence[onnx.TensorProto] = (), opset: int = 17, extra_opsets: dict[str, int] | None = None,
          value_info: Sequence[onnx.ValueInfoProto] = ()) -> onnx.ModelProto:
    g = helper.make_graph(nodes, "test", inputs, outputs, list(initializers), value_info=list(value_info))
    ops = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, v) for d, v in (extra_opsets or {}).items()]
    m = helper.make_model(g, opset_imports=ops)
    m.ir_version = min(m.ir_version, 10)
    return m


def one_node(op: str, inputs: dict[str, Sequence[int] | np.ndarray], outputs: dict[str, Sequence[int] | None],
             domain: str = "", opset: int = 17, **attrs: Any) -> onnx.ModelProto:
    """A model with one node. Array-valued inputs become initializers (weights); shapes become graph inputs."""
    graph_inputs, inits = [], []
    for name, spec in inputs.items():
        if isinstance(spec, np.ndarray):
            inits.append(init(name, spec))
        else:
            graph_inputs.append(vi(name, spec))
    node = helper.make_node(op, [n if n else "" for n in inputs], list(outputs), domain=domain or None, **attrs)
    extra = {domain: 1} if domain else None
    return model([node], graph_inputs, [vi(n, s) for n, s in outputs.items()], inits, opset, extra)


def profile_model(m: onnx.ModelProto, tmp_path: Path, name: str = "m.onnx", **kw: Any) -> ModelProfile:
    path = tmp_path / name
    onnx.save(m, str(path))
    return profile_onnx(path, **kw)
