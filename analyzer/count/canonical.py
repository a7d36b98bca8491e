"""Canonical graph: what an export spells differently from another export of the same network, rewritten to one
spelling before anything is counted, where the two are the same computation.

- A convolution or GEMM whose bias is zeros computed in the graph has no bias: torch.onnx's dynamo exporter
  without its optimizer writes a bias-free convolution with a zero bias built at run time (Expand(CastLike(0, x),
  Shape(W)[0])). A bias stored as an initializer stays, whatever its values: the framework adds it (an untrained
  model's zero-initialised bias is still an add).
- Tensors computed from constants alone (initializers, Constant nodes, the shapes of tensors, a CastLike of a
  constant, which reads only its second input's type) are constants: a runtime folds them when it loads the
  model, so their bytes are weights, read once per forward whatever the batch (count/static.py).
"""

from __future__ import annotations

from dataclasses import replace

from ..ir import Graph

# nodes that pass their first input's values through (a zero stays zero)
_VALUE_PRESERVING = frozenset({"Cast", "CastLike", "Expand", "Reshape", "Identity", "Unsqueeze", "Squeeze", "Tile",
                               "Flatten", "Transpose"})
# ops whose output differs between runs although their inputs do not: never constant
_NONDETERMINISTIC = frozenset({"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial",
                               "Bernoulli", "Dropout"})
_BIAS = {"Conv": 2, "ConvTranspose": 2, "Gemm": 2}


def _data_inputs(node) -> list:
    return [node.inputs[0]] if node.op_type == "CastLike" and node.inputs else list(node.inputs)


def constant_tensors(graph: Graph) -> frozenset[str]:
    """Tensors whose values are fixed before the model runs (see the module docstring)."""
    const: set[str] = set()
    for n in graph.nodes:
        const.update(t.name for t in n.inputs if t is not None and (t.is_initializer or t.const_value is not None))
    for n in graph.nodes:  # topological order, from the loader
        if n.op_type in _NONDETERMINISTIC or n.subgraphs:
            continue
        if n.op_type in ("Shape", "Size") or all(t.name in const for t in _data_inputs(n) if t is not None):
            const.update(t.name for t in n.outputs if t is not None)
    return frozenset(const)


def zero_tensors(graph: Graph) -> frozenset[str]:
    """Tensors the graph computes that hold only zeros: what passes a zero constant's values through (the zero
    constants themselves are not included)."""
    seeds = {t.name for n in graph.nodes for t in n.inputs
             if t is not None and t.const_value is not None and len(t.const_value) and not any(t.const_value)}
    zero: set[str] = set()
    for n in graph.nodes:
        if n.op_type in _VALUE_PRESERVING and n.inputs and n.inputs[0] is not None and n.inputs[0].name in seeds | zero:
            zero.update(t.name for t in n.outputs if t is not None)
    return frozenset(zero)


def canonical(graph: Graph) -> Graph:
    """The graph with zero biases dropped (see the module docstring)."""
    zero = zero_tensors(graph)
    if not zero:
        return graph
    nodes = []
    for n in graph.nodes:
        pos = _BIAS.get(n.op_type)
        if pos is not None and len(n.inputs) > pos and n.inputs[pos] is not None and n.inputs[pos].name in zero:
            n = replace(n, inputs=n.inputs[:pos] + (None,) + n.inputs[pos + 1:])
        nodes.append(n)
    return replace(graph, nodes=tuple(nodes))
