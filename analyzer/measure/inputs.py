"""Inputs for a measurement: synthesised from the model's input specs, or read from an .npz file.

Integer inputs that index an embedding table (a Gather on a 2-D initializer, possibly through Cast or
reshaping views) get ids below that table's row count; other integer inputs get 0/1 and a note.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError, UsageError, param
from ..ir import Graph

_NUMPY = {"float32": np.float32, "float16": np.float16, "float64": np.float64, "int64": np.int64, "int32": np.int32,
          "int16": np.int16, "int8": np.int8, "uint8": np.uint8, "uint16": np.uint16, "uint32": np.uint32,
          "uint64": np.uint64, "bool": np.bool_}
_PASS_THROUGH = {"Cast", "Identity", "Reshape", "Unsqueeze", "Squeeze", "Flatten", "Expand"}


def embedding_bounds(graph: Graph) -> dict[str, int]:
    """Graph input name -> number of rows of the smallest embedding table its values index."""
    consumers: dict[str, list] = {}
    for n in graph.nodes:
        for i, t in enumerate(n.inputs):
            if t is not None:
                consumers.setdefault(t.name, []).append((n, i))
    bounds: dict[str, int] = {}
    for inp in graph.inputs:
        frontier, seen = [inp.name], set()
        while frontier:
            name = frontier.pop()
            if name in seen:
                continue
            seen.add(name)
            for node, idx in consumers.get(name, []):
                if node.op_type == "Gather" and idx == 1 and node.inputs[0] is not None and node.inputs[0].is_initializer \
                        and node.inputs[0].shape is not None and len(node.inputs[0].shape) == 2:
                    rows = int(node.inputs[0].shape[int(node.attrs.get("axis", 0)) % 2])
                    bounds[inp.name] = min(bounds.get(inp.name, rows), rows)
                elif node.op_type in _PASS_THROUGH and idx == 0 and node.outputs and node.outputs[0] is not None:
                    frontier.append(node.outputs[0].name)
    return bounds


def synthesise(graph: Graph, seed: int = 0) -> tuple[dict[str, np.ndarray], list[str]]:
    rng = np.random.default_rng(seed)
    bounds = embedding_bounds(graph)
    feeds: dict[str, np.ndarray] = {}
    notes: list[str] = []
    for t in graph.inputs:
        shape = t.dims(f"input '{t.name}'")
        dtype = _NUMPY.get(t.dtype)
        if dtype is None:
            raise InputError(f"input '{t.name}': cannot synthesise dtype {t.dtype}; pass {param('inputs')} FILE.npz")
        if np.issubdtype(dtype, np.floating):
            feeds[t.name] = rng.standard_normal(shape).astype(dtype)
        elif dtype is np.bool_:
            feeds[t.name] = rng.random(shape) < 0.5
        else:
            high = bounds.get(t.name)
            if high is None:
                high = 2
                notes.append(f"input '{t.name}': no embedding table found to bound it; values drawn from [0, 2)")
            feeds[t.name] = rng.integers(0, high, size=shape, dtype=dtype)
    return feeds, notes


MAX_NPZ_BYTES = 1 << 30  # the arrays unpacked: a small zip can hold gigabytes of zeros


def from_npz(path: Path, graph: Graph) -> dict[str, np.ndarray]:
    """The model's inputs from an .npz: a regular file (files.open_regular: a FIFO or a device is refused at once),
    never unpickled, its arrays at most MAX_NPZ_BYTES unpacked (checked in the zip's directory before reading)."""
    from ..files import open_regular

    where = f"{param('inputs')} {path}"
    with open_regular(path, UsageError, where) as f:
        try:
            data = np.load(f, allow_pickle=False)  # never unpickle user files
            if not isinstance(data, np.lib.npyio.NpzFile):
                raise InputError(f"{where}: one array (.npy), not an .npz of arrays named as the model's inputs")
            with data:
                unpacked = sum(i.file_size for i in data.zip.infolist())
                if unpacked > MAX_NPZ_BYTES:
                    raise InputError(f"{where}: its arrays unpack to {unpacked:,} bytes; at most {MAX_NPZ_BYTES:,} are read")
                arrays = {k: data[k] for k in data.files}
        except (OSError, ValueError, EOFError, KeyError) as e:
            said = "neither an .npz nor an .npy; pickled data is never loaded" if "pickle" in str(e) else str(e)[:200]
            raise InputError(f"{where}: not a readable .npz of arrays ({said})") from None
    names = [t.name for t in graph.inputs]
    missing = [n for n in names if n not in arrays]
    if missing:
        raise InputError(f"{param('inputs')} {path}: missing input(s) {', '.join(missing)}; the model needs {', '.join(names)}")
    for t in graph.inputs:
        a = arrays[t.name]
        if t.shape is not None and len(a.shape) != len(t.shape):
            raise InputError(f"{param('inputs')} {path}: '{t.name}' has rank {a.ndim}, the model expects {len(t.shape)}")
    return {n: arrays[n] for n in names}
