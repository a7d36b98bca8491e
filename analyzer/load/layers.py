"""A user's own network as a JSON layer list (`population layers:FILE`), built straight into the IR (load/ir_net.py).

The schema is documented, with examples, in docs/spaces.md. In short: a network is
`{"name": ..., "input": [C, H, W] or [F], "layers": [{"op": ..., ...}, ...]}` and a file holds one network or a list
of them. Layers run in order, each reading the one before; `add`, `mul` and `concat` also read earlier layers by
index (`"from"`, 0-based, or "input"). Every field is checked where it is read, with one-line errors naming the
network, the layer and the field: unknown ops and keys, types (integers are integers, not floats or booleans),
plausible ranges, and the rules between fields and shapes (a convolution's groups divide its channels, a window
fits its input, added tensors have one shape, a linear layer reads a flat tensor).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..files import parse_json, read_json
from ..ir import Graph, TensorInfo
from .ir_net import Net, out_size

MAX_FILE_BYTES = 16 * 1024 * 1024
MAX_LAYERS, MAX_NETWORKS, MAX_DEPTH = 10_000, 100_000, 6
MAX_CHANNELS, MAX_SIZE, MAX_WINDOW, MAX_ELEMENTS = 1 << 20, 1 << 16, 256, 1 << 36
ACTIVATIONS = ("relu", "relu6", "hswish", "hsigmoid", "sigmoid")
# op -> {field: (kind, default)}; kind: "int" (>= 1), "int0" (>= 0), "bool", "kind" (max|avg), "from", "froms";
# a default of None means the field is required; "same" means kernel // 2 (dilated: dilation (kernel - 1) // 2)
FIELDS: dict[str, dict[str, tuple[str, Any]]] = {
    "conv": {"channels": ("int", None), "kernel": ("int", None), "stride": ("int", 1), "padding": ("int0", "same"),
             "groups": ("int", 1), "dilation": ("int", 1), "bias": ("bool", False)},
    "dwconv": {"kernel": ("int", None), "stride": ("int", 1), "padding": ("int0", "same"), "dilation": ("int", 1),
               "bias": ("bool", False)},
    "linear": {"channels": ("int", None), "bias": ("bool", True)},
    "pool": {"kind": ("kind", None), "kernel": ("int", None), "stride": ("int", "kernel"), "padding": ("int0", 0),
             "ceil": ("bool", False)},
    "gap": {}, "flatten": {}, "bn": {},
    **{a: {} for a in ACTIVATIONS},
    "add": {"from": ("from", None)}, "mul": {"from": ("from", None)}, "concat": {"from": ("froms", None)},
}
_LIMIT = {"channels": MAX_CHANNELS, "groups": MAX_CHANNELS, "kernel": MAX_WINDOW, "stride": MAX_WINDOW,
          "padding": MAX_WINDOW, "dilation": MAX_WINDOW}


@dataclass(frozen=True)
class Network:
    """A checked layer list: its name, input dims (no batch) and layers with every default filled in."""

    label: str
    input: tuple[int, ...]
    layers: tuple[dict[str, Any], ...]

    def name(self) -> str:
        return self.label

    def to_json(self) -> str:
        return json.dumps({"name": self.label, "input": list(self.input), "layers": list(self.layers)},
                          sort_keys=True, separators=(",", ":"))


def _int(v: Any, lo: int, hi: int, where: str) -> int:
    if type(v) is not int or not lo <= v <= hi:
        raise UsageError(f"{where} must be an integer from {lo} to {hi:,}, got {json.dumps(v)[:40]}")
    return v


def _field(layer: dict, key: str, kind: str, default: Any, where: str, index: int) -> Any:
    at = f"{where}: '{key}'"
    if key not in layer:
        if default is None:
            raise UsageError(f"{where}: '{key}' is required")
        return default
    v = layer[key]
    if kind in ("int", "int0"):
        return _int(v, 0 if kind == "int0" else 1, _LIMIT[key], at)
    if kind == "bool":
        if type(v) is not bool:
            raise UsageError(f"{at} must be true or false")
        return v
    if kind == "kind":
        if v not in ("max", "avg"):
            raise UsageError(f"{at} must be \"max\" or \"avg\"")
        return v
    refs = v if kind == "froms" else [v]
    if kind == "froms" and (not isinstance(v, list) or not v):
        raise UsageError(f"{at} must be a non-empty list of earlier layer indices (or \"input\")")
    for r in refs:
        if r != "input" and (type(r) is not int or not 0 <= r < index):
            raise UsageError(f"{at} must name an earlier layer: an index from 0 to {index - 1} or \"input\", got {json.dumps(r)[:40]}")
    return v


def _shapes(net_input: tuple[int, ...], layers: list[dict], where: str) -> None:
    """The shapes layer by layer (no batch), checking the rules between fields and shapes."""
    shapes: list[tuple[int, ...]] = []
    x = net_input

    def ref(r: Any) -> tuple[int, ...]:
        return net_input if r == "input" else shapes[r]

    for i, L in enumerate(layers):
        at, op = f"{where}: layer {i} ({L['op']})", L["op"]
        if op in ("conv", "dwconv", "pool", "bn", "gap") and len(x) != 3:
            raise UsageError(f"{at} reads an image (C, H, W); its input is {list(x)}")
        if op == "linear" and len(x) != 1:
            raise UsageError(f"{at} reads a flat tensor; its input is {list(x)} (add a 'gap' and a 'flatten' first)")
        if op in ("conv", "dwconv", "pool"):
            k, s, d = L["kernel"], L["stride"], L.get("dilation", 1)
            if L["padding"] == "same":
                L["padding"] = d * (k - 1) // 2
            if op == "pool" and L["stride"] == "kernel":
                L["stride"] = s = k
            p = L["padding"]
            if op == "pool" and 2 * p > k:
                raise UsageError(f"{at}: padding {p} is more than half the kernel {k}")
            h, w = (out_size(n, k, s, p, d, L.get("ceil", False)) for n in x[1:])
            if h < 1 or w < 1:
                raise UsageError(f"{at}: a {k}x{k} window (dilation {d}, padding {p}) does not fit its {x[1]}x{x[2]} input")
            c = x[0]
            if op == "conv":
                g, c = L["groups"], L["channels"]
                if x[0] % g or c % g:
                    raise UsageError(f"{at}: groups {g} must divide its input channels {x[0]} and its channels {c}")
            x = (c, h, w)
        elif op == "gap":
            x = (x[0], 1, 1)
        elif op == "flatten":
            x = (math.prod(x),)
        elif op == "linear":
            x = (L["channels"],)
        elif op in ("add", "mul"):
            y = ref(L["from"])
            ok = y == x if op == "add" else len(y) == len(x) and all(a == b or a == 1 or b == 1 for a, b in zip(x, y))
            if not ok:
                raise UsageError(f"{at}: its input {list(x)} and layer {L['from']}'s output {list(y)} "
                                 + ("differ" if op == "add" else "do not broadcast"))
            x = tuple(max(a, b) for a, b in zip(x, y))
        elif op == "concat":
            ys = [ref(r) for r in L["from"]]
            if any(len(y) != 3 or len(x) != 3 or y[1:] != x[1:] for y in ys):
                raise UsageError(f"{at}: concatenates images of one height and width; got {list(x)} and {[list(y) for y in ys]}")
            x = (x[0] + sum(y[0] for y in ys), *x[1:])
        if math.prod(x) > MAX_ELEMENTS:
            raise UsageError(f"{at}: output {list(x)} has more than {MAX_ELEMENTS:,} elements an item")
        shapes.append(x)


def network(d: Any, where: str = "network", default_name: str = "layers") -> Network:
    """A network from its JSON value, checked (see the module docstring); errors are one line naming `where`."""
    if not isinstance(d, dict):
        raise UsageError(f"{where}: a network is an object {{\"input\": [C, H, W], \"layers\": [...]}}")
    unknown = sorted(set(d) - {"name", "input", "layers"})
    if unknown:
        raise UsageError(f"{where}: unknown key '{unknown[0][:40]}' (a network has name, input and layers)")
    name = d.get("name", default_name)
    if not isinstance(name, str) or not 1 <= len(name) <= 100 or "/" in name or not name.isprintable():
        raise UsageError(f"{where}: 'name' must be printable text of 1 to 100 characters without '/'")
    where = f"{where} ('{name}')"
    inp = d.get("input")
    if not isinstance(inp, list) or len(inp) not in (1, 3):
        raise UsageError(f"{where}: 'input' must be [C, H, W] (an image) or [F] (a vector), without the batch")
    dims = tuple(_int(v, 1, MAX_CHANNELS if i == 0 else MAX_SIZE, f"{where}: input[{i}]") for i, v in enumerate(inp))
    layers = d.get("layers")
    if not isinstance(layers, list) or not 1 <= len(layers) <= MAX_LAYERS:
        raise UsageError(f"{where}: 'layers' must be a list of 1 to {MAX_LAYERS:,} layers")
    out = []
    for i, L in enumerate(layers):
        at = f"{where}: layer {i}"
        if not isinstance(L, dict) or not isinstance(L.get("op"), str):
            raise UsageError(f"{at}: a layer is an object with an 'op' ({', '.join(FIELDS)})")
        op = L["op"]
        if op not in FIELDS:
            raise UsageError(f"{at}: op '{op[:40]}' is not one of {', '.join(FIELDS)}")
        at = f"{at} ({op})"
        extra = sorted(set(L) - set(FIELDS[op]) - {"op"})
        if extra:
            raise UsageError(f"{at}: unknown key '{extra[0][:40]}'; {op} takes {', '.join(FIELDS[op]) or 'no fields'}")
        out.append({"op": op, **{k: _field(L, k, kind, dflt, at, i) for k, (kind, dflt) in FIELDS[op].items()}})
    _shapes(dims, out, where)
    return Network(name, dims, tuple(out))


def parse(text: str, where: str = "network") -> Network:
    return network(parse_json(text, UsageError, where, MAX_DEPTH), where)


def read_file(path: Path, max_bytes: int = MAX_FILE_BYTES) -> list[Network]:
    """The networks of a JSON file (one network, or a list of them) through the one reader of user files."""
    data = read_json(Path(path), UsageError, max_bytes)
    items = data if isinstance(data, list) else [data]
    if not 1 <= len(items) <= MAX_NETWORKS:
        raise UsageError(f"{path}: holds {len(items):,} networks; 1 to {MAX_NETWORKS:,}")
    nets = [network(d, f"{path}: network {i}", f"layers_{i}" if len(items) > 1 else "layers") for i, d in enumerate(items)]
    if len(items) > 1:
        seen: set[str] = set()
        for i, n in enumerate(nets):
            if n.label in seen:
                raise UsageError(f"{path}: network {i}: name '{n.label}' is used twice; names must be unique")
            seen.add(n.label)
    return nets


def build(n: Network, batch: int | str = "batch") -> tuple[Graph, tuple[TensorInfo, ...]]:
    """The network as one IR graph and its initializers, at `batch`."""
    net = Net(batch)
    x_in = x = net.input(*n.input)
    outs: list[TensorInfo] = []

    def ref(r: Any) -> TensorInfo:
        return x_in if r == "input" else outs[r]

    for L in n.layers:
        op = L["op"]
        if op == "conv":
            x = net.conv(x, L["channels"], L["kernel"], L["stride"], L["groups"], L["bias"], L["padding"], L["dilation"])
        elif op == "dwconv":
            c = x.shape[1]  # type: ignore[index]
            x = net.conv(x, c, L["kernel"], L["stride"], c, L["bias"], L["padding"], L["dilation"])  # type: ignore[arg-type]
        elif op == "linear":
            x = net.linear(x, L["channels"], L["bias"])
        elif op == "pool":
            x = net.pool(x, L["kind"], L["kernel"], L["stride"], L["padding"], L["ceil"])
        elif op == "gap":
            x = net.global_pool(x)
        elif op == "flatten":
            x = net.flatten(x)
        elif op == "bn":
            x = net.bn(x)
        elif op in ACTIVATIONS:
            x = net.act(x, op)
        elif op == "add":
            x = net.add(x, ref(L["from"]))
        elif op == "mul":
            y = ref(L["from"])
            x = net.mul(x, y) if all(a == b or b == 1 for a, b in zip(x.shape[1:], y.shape[1:])) else net.mul(y, x)  # type: ignore[index]
        else:
            x = net.concat([x, *(ref(r) for r in L["from"])])
        outs.append(x)
    return net.graph(n.label, (x_in,), (x,))
