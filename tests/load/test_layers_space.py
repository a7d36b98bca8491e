"""The JSON layer-list form of a user's own network (load/layers.py, `population layers:FILE`): the network against
a torch module built from the same list and exported to ONNX, the one-line errors of every rule, a fuzz of the door
(hypothesis: any JSON value is a network or one UsageError), and the examples docs/spaces.md shows."""

import copy
import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from analyzer.count.profile import profile_graph
from analyzer.errors import UsageError
from analyzer.load import layers
from analyzer.load.sources import read

# every op: a stem, an inverted residual with squeeze-and-excitation and its skip, a concat, both poolings, a head
EVERY_OP = {"name": "every-op", "input": [3, 32, 32], "layers": [
    {"op": "conv", "channels": 16, "kernel": 3, "stride": 2}, {"op": "bn"}, {"op": "hswish"},          # 0-2
    {"op": "conv", "channels": 48, "kernel": 1}, {"op": "bn"}, {"op": "relu6"},                          # 3-5
    {"op": "dwconv", "kernel": 5}, {"op": "bn"}, {"op": "relu"},                                          # 6-8
    {"op": "gap"}, {"op": "conv", "channels": 12, "kernel": 1, "bias": True}, {"op": "relu"},             # 9-11
    {"op": "conv", "channels": 48, "kernel": 1, "bias": True}, {"op": "hsigmoid"}, {"op": "mul", "from": 8},  # 12-14
    {"op": "conv", "channels": 16, "kernel": 1}, {"op": "bn"}, {"op": "add", "from": 2},                 # 15-17
    {"op": "concat", "from": [2, 17]},                                                                    # 18
    {"op": "conv", "channels": 64, "kernel": 3, "groups": 4, "padding": 1, "dilation": 1}, {"op": "sigmoid"},  # 19-20
    {"op": "pool", "kind": "max", "kernel": 3, "stride": 2, "padding": 1}, {"op": "pool", "kind": "avg", "kernel": 2},
    {"op": "gap"}, {"op": "flatten"}, {"op": "linear", "channels": 10}]}


def _profile(d, batch=2):
    return profile_graph("n", "", *layers.build(layers.network(d), batch), batch)


def test_every_op_builds_and_counts_by_hand():
    n = layers.network(EVERY_OP)
    p = _profile(EVERY_OP, 1)
    # Conv MACs k*k*Cin/g*Cout*H*W at 16x16, then 8x8 after the max pool, then 4x4; the linear layer
    macs = (9 * 3 * 16 * 256 + 16 * 48 * 256 + 25 * 48 * 256 + 48 * 12 + 12 * 48 + 48 * 16 * 256
            + 9 * (48 // 4) * 64 * 256 + 64 * 10)
    assert p.macs == macs and p.coverage == 1.0
    assert n.layers[21]["stride"] == 2 and n.layers[22]["stride"] == 2 and n.layers[0]["padding"] == 1
    assert layers.parse(n.to_json()) == n  # the canonical text a task carries reads back to the same network


def _torch_net(n: layers.Network, torch):
    """The layer list interpreted with torch.nn modules: an independent reading of the schema."""
    nn = torch.nn
    acts = {"relu": nn.ReLU, "relu6": nn.ReLU6, "hswish": nn.Hardswish, "hsigmoid": nn.Hardsigmoid, "sigmoid": nn.Sigmoid}

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            mods, c = [], n.input[0]
            for L in n.layers:
                op = L["op"]
                if op == "conv":
                    m = nn.Conv2d(c, L["channels"], L["kernel"], L["stride"], L["padding"], L["dilation"], L["groups"], L["bias"])
                    c = L["channels"]
                elif op == "dwconv":
                    m = nn.Conv2d(c, c, L["kernel"], L["stride"], L["padding"], L["dilation"], c, L["bias"])
                elif op == "linear":
                    m = nn.Linear(c, L["channels"], L["bias"])
                    c = L["channels"]
                elif op == "pool":
                    cls = nn.MaxPool2d if L["kind"] == "max" else nn.AvgPool2d
                    m = cls(L["kernel"], L["stride"], L["padding"], ceil_mode=L["ceil"])
                elif op == "bn":
                    m = nn.BatchNorm2d(c)
                elif op == "gap":
                    m = nn.AdaptiveAvgPool2d(1)
                elif op == "flatten":
                    m, c = nn.Flatten(1), c  # after gap: C x 1 x 1
                elif op in acts:
                    m = acts[op]()
                else:
                    m = nn.Identity()
                    if op == "concat":
                        c += sum(n.input[0] if r == "input" else self._c[r] for r in L["from"])
                mods.append(m)
                self._c = getattr(self, "_c", []) + [c]
            self.mods = nn.ModuleList(mods)

        def forward(self, x):
            inp, outs = x, []
            for L, m in zip(n.layers, self.mods):
                ref = (lambda r: inp if r == "input" else outs[r])
                if L["op"] == "add":
                    x = x + ref(L["from"])
                elif L["op"] == "mul":
                    x = x * ref(L["from"])
                elif L["op"] == "concat":
                    x = torch.cat([x, *(ref(r) for r in L["from"])], 1)
                else:
                    x = m(x)
                outs.append(x)
            return x

    return Net()


@pytest.mark.torch
def test_the_ir_equals_torchs_export(tmp_path):
    from conftest import require_torch
    from space_export import assert_export_equal

    torch = require_torch()
    n = layers.network(EVERY_OP)
    assert_export_equal(tmp_path, torch, _torch_net(n, torch), (2, 3, 32, 32), *layers.build(n, 2))


def _with(path, value):
    from fakes import edited

    return edited(EVERY_OP, path, value)


@pytest.mark.parametrize("path, value, phrase", [
    (("layers", 0, "channels"), 0, "layer 0 (conv): 'channels' must be an integer from 1"),
    (("layers", 0, "channels"), 16.0, "'channels' must be an integer"),
    (("layers", 0, "channels"), True, "'channels' must be an integer"),
    (("layers", 0, "channels"), 10**30, "'channels' must be an integer"),
    (("layers", 0, "kernel"), KeyError, "layer 0 (conv): 'kernel' is required"),
    (("layers", 0, "kernal"), 3, "unknown key 'kernal'"),
    (("layers", 0, "op"), "conv3d", "op 'conv3d' is not one of"),
    (("layers", 0, "bias"), "yes", "'bias' must be true or false"),
    (("layers", 0, "groups"), 5, "groups 5 must divide its input channels 3"),
    (("layers", 22, "kernel"), 64, "does not fit its 8x8 input"),
    (("layers", 14, "from"), 20, "'from' must name an earlier layer: an index from 0 to 13"),
    (("layers", 17, "from"), 5, "its input [16, 16, 16] and layer 5's output [48, 16, 16] differ"),
    (("layers", 18, "from"), [], "'from' must be a non-empty list"),
    (("layers", 18, "from"), [10], "concatenates images of one height and width"),
    (("layers", 21, "kind"), "min", "'kind' must be \"max\" or \"avg\""),
    (("layers", 21, "padding"), 2, "padding 2 is more than half the kernel 3"),
    (("layers", 25), {"op": "bn"}, "layer 25 (bn) reads an image"),
    (("layers", 24), {"op": "relu"}, "layer 25 (linear) reads a flat tensor"),
    (("layers", 3), "conv", "a layer is an object with an 'op'"),
    (("layers",), [], "'layers' must be a list of 1 to"),
    (("input",), [3, 32], "'input' must be [C, H, W]"),
    (("input",), [3, 0, 32], "input[1] must be an integer from 1"),
    (("name",), "a/b", "'name' must be printable text"),
    (("extra",), 1, "unknown key 'extra'"),
])
def test_each_rule_is_one_line(path, value, phrase):
    with pytest.raises(UsageError) as e:
        layers.network(_with(path, value))
    assert phrase in str(e.value) and "\n" not in str(e.value), str(e.value)


def _json_values():
    leaf = st.none() | st.booleans() | st.integers(-5, 70) | st.floats(allow_nan=False, allow_infinity=False) | \
        st.sampled_from(["conv", "dwconv", "pool", "max", "avg", "input", "bn", "add", "concat", "linear", "gap", "flatten"])
    return st.recursive(leaf, lambda c: st.lists(c, max_size=4) | st.dictionaries(
        st.sampled_from(["op", "channels", "kernel", "stride", "padding", "groups", "from", "kind", "bias", "x"]), c, max_size=4),
        max_leaves=12)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fuzz_a_network_or_one_usage_error(data):
    """Mutate a valid network (a field set to any JSON value, a layer replaced or removed): the door answers a
    network that builds and counts fully, or one UsageError line; never another exception."""
    d = copy.deepcopy(EVERY_OP)
    for _ in range(data.draw(st.integers(1, 3))):
        how = data.draw(st.sampled_from(["field", "layer", "drop", "top"]))
        if not isinstance(d.get("layers"), list) or not d["layers"]:
            how = "top"
        else:
            i = data.draw(st.integers(0, len(d["layers"]) - 1))
        if how == "field" and isinstance(d["layers"][i], dict):
            d["layers"][i][data.draw(st.sampled_from(["channels", "kernel", "stride", "padding", "groups", "from", "op", "kind"]))] = \
                data.draw(_json_values())
        elif how == "layer":
            d["layers"][i] = data.draw(_json_values())
        elif how == "drop":
            del d["layers"][i]
        else:
            d[data.draw(st.sampled_from(["input", "layers", "name"]))] = data.draw(_json_values())
    try:
        n = layers.network(d)
    except UsageError as e:
        assert "\n" not in str(e)
        return
    p = profile_graph("n", "", *layers.build(n, 1), 1)
    assert p.coverage == 1.0 and p.macs >= 0


def test_files_and_the_population_command(tmp_path):
    from cli_helpers import cli, one_line_error

    f = tmp_path / "nets.json"
    small = {"input": [3, 8, 8], "layers": [{"op": "conv", "channels": 4, "kernel": 3}, {"op": "gap"}, {"op": "flatten"},
                                           {"op": "linear", "channels": 2}]}
    f.write_text(json.dumps([EVERY_OP, small]))
    tasks = list(read(f"layers:{f}"))
    assert [t.name for t in tasks] == ["every-op", "layers_1"] and tasks[0].identity != tasks[1].identity
    r = cli("population", f"layers:{f}", "--hardware", "h100", "--no-store", "--workers", "1", "--format", "json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["candidates"] == 2
    f.write_text(json.dumps([{**small, "name": "a"}, {**small, "name": "a"}]))
    with pytest.raises(UsageError, match="name 'a' is used twice"):
        list(read(f"layers:{f}"))
    for text, phrase in (("[" * 200 + "]" * 200, "nests too deeply"), ('{"input": [3, 8, 8], "layers": [NaN]}', "not a number"),
                         (b"\xff\xfe", "UTF-8"), ("[]", "holds 0 networks")):
        f.write_bytes(text if isinstance(text, bytes) else text.encode())
        one_line_error(cli("population", f"layers:{f}", "--hardware", "h100", "--no-store"), 2, phrase)
    one_line_error(cli("population", f"layers:{tmp_path}", "--hardware", "h100", "--no-store"), 2)
    one_line_error(cli("population", "layers:", "--hardware", "h100", "--no-store"), 2, "expected layers:FILE")
    with pytest.raises(UsageError, match="at most 100"):
        layers.read_file(f, max_bytes=100) if f.write_text(json.dumps(EVERY_OP)) else None


def test_the_docs_examples_are_accepted():
    """Every ```json block of docs/spaces.md's layer-list section is a network (or a list) the door accepts."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "spaces.md").read_text()
    section = doc.split("## Your own network: `layers:FILE`")[1].split("\n## ")[0]
    blocks = re.findall(r"```json\n(.*?)```", section, re.S)
    assert blocks
    for b in blocks:
        v = json.loads(b)
        for d in v if isinstance(v, list) else [v]:
            assert profile_graph("n", "", *layers.build(layers.network(d), 1), 1).coverage == 1.0


def test_the_docs_json_schema_accepts_what_the_door_accepts():
    """The JSON Schema docs/spaces.md shows is a valid schema that holds the examples and every network the door
    accepted above (the door is the stricter: it adds the cross-field rules)."""
    jsonschema = pytest.importorskip("jsonschema")
    doc = (Path(__file__).resolve().parents[2] / "docs" / "spaces.md").read_text()
    schema = json.loads(re.search(r"```jsonschema\n(.*?)```", doc, re.S).group(1))
    jsonschema.Draft202012Validator.check_schema(schema)
    v = jsonschema.Draft202012Validator(schema)
    section = doc.split("## Your own network: `layers:FILE`")[1].split("\n## ")[0]
    for b in [*re.findall(r"```json\n(.*?)```", section, re.S), json.dumps(EVERY_OP), layers.network(EVERY_OP).to_json()]:
        assert not list(v.iter_errors(json.loads(b)))
    assert list(v.iter_errors(_with(("layers", 0, "channels"), 0))) and list(v.iter_errors(_with(("layers", 0, "op"), "conv3d")))
