"""NAS-Bench-201 networks built straight into the IR (load/nb201.py): checked against the same network written in
torch and exported to ONNX, against MACs counted by hand, and the memoised population path (engine/memo.py)
against the whole graph and against each candidate evaluated alone, bit for bit."""


import pytest

from analyzer.count.profile import profile_graph, profile_onnx
from analyzer.engine import LocalExecutor, memo
from analyzer.engine.chain import evaluate_one
from analyzer.engine.population import run_population
from analyzer.errors import UsageError
from analyzer.load import nb201, nb201_arch as nb
from analyzer.load.sources import nb201_task, read
from analyzer.profiles import load_profiles
from analyzer.target import resolve_target, TargetRequest

BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
EVERY_OP = "|none~0|+|skip_connect~0|avg_pool_3x3~1|+|nor_conv_1x1~0|nor_conv_3x3~1|none~2|"


@pytest.fixture(scope="module")
def profiles():
    return load_profiles()


def _profile(arch: str, batch: int = 1):
    g, inits = nb201.build(nb.parse(arch), batch)
    return profile_graph("nb201", "", g, inits, batch)


def _macs_by_hand(arch: nb.Arch, c: int = 16, n: int = 5, r: int = 32, classes: int = 10) -> int:
    """Conv MACs k x k x C_in x C_out x H x W (1 x 1 and 3 x 3 edges keep C and the resolution), the reduction
    blocks' two 3 x 3 convolutions and 1 x 1 shortcut at half resolution, and the classifier."""
    macs = 3 * 3 * 3 * c * r * r  # stem
    per_cell = sum({"nor_conv_1x1": 1, "nor_conv_3x3": 9}.get(op, 0) for op in arch.ops)
    for stage in range(3):
        if stage:
            r2 = r // 2
            macs += 9 * c * 2 * c * r2 * r2 + 9 * 2 * c * 2 * c * r2 * r2 + c * 2 * c * r2 * r2
            c, r = 2 * c, r2
        macs += n * per_cell * c * c * r * r
    return macs + c * classes


@pytest.mark.parametrize("arch", [BEST, EVERY_OP, "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"])
def test_macs_as_counted_by_hand(arch):
    p = _profile(arch, 2)
    assert p.macs == 2 * _macs_by_hand(nb.parse(arch))
    assert p.coverage == 1.0 and not p.notes


def test_segments_add_up_to_the_whole_graph():
    a = nb.parse(EVERY_OP)
    whole = _profile(EVERY_OP, 4)
    parts = [profile_graph("s", "", *nb201.build_segment(s, 4), 4) for s in nb201.segments(a)]
    for k in ("macs", "flops", "params", "bytes_moved", "weight_bytes", "activation_bytes", "nodes"):
        assert sum(getattr(p, k) for p in parts) == getattr(whole, k), k


def _evaluations_equal(a, b):
    da, db = a.to_dict(), b.to_dict()
    for d in (da, db):
        d.pop("name"), d.pop("model")
        d["detail"].pop("per_kernel", None)
    assert da == db


@pytest.mark.parametrize("runtime, hardware", [("eager", "h100"), ("graph", "h100"), ("ort", "h100"), ("ort", "xeon-8380")])
def test_memoised_segments_equal_the_whole_graph_bit_for_bit(profiles, runtime, hardware):
    """The population path (each distinct segment counted, planned and timed once) against the whole graph through
    the ordinary chain (a per-kernel target takes it): every number equal, floats included. The cells sampled
    cover the fusions that reach across segments (all-none and all-skip cells), where the memo steps aside, and sums
    of a tensor with itself (a skip edge's alias added to itself reads it once)."""
    tg = resolve_target(profiles, TargetRequest(hardware, runtime=runtime, batch=8, pue=1.2, grid=300.0))
    whole = resolve_target(profiles, TargetRequest(hardware, runtime=runtime, batch=8, pue=1.2, grid=300.0, per_kernel=True))
    archs = nb.sample(12, 7) + [nb.parse(EVERY_OP), nb.parse("|skip_connect~0|+|none~0|none~1|+|none~0|skip_connect~1|none~2|"),
                                nb.parse("|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"),
                                nb.parse("|skip_connect~0|+|skip_connect~0|skip_connect~1|+|avg_pool_3x3~0|avg_pool_3x3~1|skip_connect~2|")]
    archs = archs + archs  # the second time each cell's class is known: its cells are put together from their layers
    for a in archs:
        t = nb201_task(a, "c")
        e = evaluate_one(t, tg)
        assert e.ok, e.error
        _evaluations_equal(e, evaluate_one(t, whole))


def test_a_population_equals_each_candidate_evaluated_alone(profiles):
    tg = resolve_target(profiles, TargetRequest("h100", runtime="graph", batch=4, pue=1.1, grid=100.0))
    memo.MEMO.clear()
    run = run_population(read("nb201:24:5"), tg, LocalExecutor(1), keep_arch=True)
    assert not run.errors and memo.MEMO.hits > memo.MEMO.misses  # the fixed segments and each cell's 5 copies
    alone = {}
    for t in read("nb201:24:5"):
        memo.MEMO.clear()
        alone[t.name] = evaluate_one(t, tg)
    for r in run.records:
        e = alone[r["name"]]
        assert (r["macs"], r["params"], r["bytes_moved"], r["latency_s"], r["energy_j_per_item"], r["co2e_g_per_item"]) == \
            (e.macs, e.params, e.bytes_moved, e.latency_s, e.energy_j_per_item, e.co2e_g_per_item)
        assert r["arch"] == {"nb201": nb.from_index(int(r["name"].split("_")[1])).to_string()}


def test_a_pool_of_two_equals_one_process(profiles):
    tg = resolve_target(profiles, TargetRequest("h100", runtime="eager", batch=1, pue=1.1, grid=100.0))
    one = run_population(read("nb201:40:2"), tg, LocalExecutor(1))
    two = run_population(read("nb201:40:2"), tg, LocalExecutor(2))
    def plain(records):
        return sorted(({k: v for k, v in r.items() if k != "host"} for r in records), key=lambda r: r["name"])

    assert two.workers == 2 and len(one.records) == 40 and plain(one.records) == plain(two.records)


def test_arch_files(tmp_path):
    f = tmp_path / "archs.txt"
    f.write_text(f"# two cells\n{BEST}\n\n{EVERY_OP}\n")
    names = [t.name for t in read(f"nb201:{f}")]
    assert names == [f"nb201_{nb.parse(BEST).index():05d}", f"nb201_{nb.parse(EVERY_OP).index():05d}"]
    f.write_text(f"{BEST}\n|nor_conv_5x5~0|+|none~0|none~1|+|none~0|none~1|none~2|\n")
    with pytest.raises(UsageError, match=r"archs.txt:2: .*nor_conv_5x5~0"):
        list(read(f"nb201:{f}"))
    f.write_text("# nothing\n")
    with pytest.raises(UsageError, match="no NB201 arch strings"):
        list(read(f"nb201:{f}"))
    with pytest.raises(UsageError, match="at most 100"):
        nb201.read_archs(f, max_bytes=100) if f.write_text(BEST * 2) else None
    for spec in ("nb201:0", "nb201:15626", f"nb201:{tmp_path / 'missing.txt'}"):
        with pytest.raises(UsageError):
            list(read(spec))


# ---- against torch's export ---------------------------------------------------------------------------

def _torch_net(arch: nb.Arch, torch):
    """NB201's TinyNetwork in eval mode (load/nb201_torch.py, what the space benchmarks run eagerly)."""
    from analyzer.load.nb201_torch import torch_net

    return torch_net(arch, torch)


@pytest.mark.torch
@pytest.mark.parametrize("arch", [BEST, EVERY_OP])
def test_the_ir_equals_torchs_export(tmp_path, arch):
    """MACs and parameters exactly, and MACs, FLOPs and bytes per op type, of the IR against the TorchScript
    export of the same network with its batch norms kept (TrainingMode.PRESERVE: the exporter's eval-mode pass
    would fold them into the convolutions, which PyTorch does not do when it runs the module)."""
    from conftest import require_torch

    torch = require_torch()
    import warnings

    a = nb.parse(arch)
    net = _torch_net(a, torch)
    out = tmp_path / "nb201.onnx"
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.zeros(2, 3, 32, 32),), str(out), dynamo=False, opset_version=17,
                          training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
    exported = profile_onnx(out, batch=2, scan_sparsity=False)
    ours = _profile(arch, 2)
    assert ours.macs == exported.macs and ours.params == exported.params
    assert ours.params == sum(p.numel() for p in net.parameters())
    skip = {"Constant", "Identity", "Flatten", "Reshape", "Shape", "Gather", "Unsqueeze", "Concat"}
    theirs = {k: v for k, v in exported.op_type_totals.items() if k not in skip}
    mine = {k: v for k, v in ours.op_type_totals.items() if k not in skip}
    # PyTorch runs every edge's ReLU; the TorchScript exporter's common-subexpression pass merges the ReLUs of one
    # tensor into one node: the IR keeps what runs, and its ReLUs of distinct tensors are the export's
    relus = {n.inputs[0]: n for n in ours.per_op if n.op_type == "Relu"}
    assert theirs.pop("Relu") == {"count": len(relus), "macs": 0, "flops": sum(n.flops for n in relus.values()),
                                  "bytes": sum(n.bytes for n in relus.values())}
    assert mine.pop("Relu")["count"] == sum(1 for op in a.ops if op.startswith("nor_conv")) * 15 + 2 * 2 + 1
    assert mine == theirs


# ---- the CLI and the in-loop objective ----------------------------------------------------------------

def test_population_command_reads_an_arch_file(tmp_path):
    from cli_helpers import cli

    f = tmp_path / "archs.txt"
    f.write_text(f"{BEST}\n{EVERY_OP}\n")
    r = cli("population", f"nb201:{f}", "--hardware", "h100", "--no-store", "--workers", "1", "--format", "json")
    assert r.exit_code == 0, r.output
    import json

    out = json.loads(r.stdout)
    assert out["candidates"] == 2 and out["failed"] == 0
    bad = cli("population", "nb201:0", "--hardware", "h100", "--no-store")
    assert bad.exit_code == 2 and "15,625" in bad.output and "Traceback" not in bad.output


def test_cost_gives_populations_numbers_and_remembers(profiles):
    import analyzer
    from analyzer.errors import AnalyzerError

    tg = resolve_target(profiles, TargetRequest("h100", runtime="graph", batch=16, pue=1.1, grid=200.0))
    e = analyzer.cost(BEST, tg)
    pop = analyzer.evaluate([nb201_task(nb.parse(BEST), e.name)], tg)
    assert (e.macs, e.latency_s, e.co2e_g_per_item, e.energy_range_j) == \
        (pop[0].macs, pop[0].latency_s, pop[0].co2e_g_per_item, pop[0].energy_range_j)
    assert e.inputs and e.name == f"nb201_{nb.parse(BEST).index():05d}"
    assert analyzer.cost(nb.parse(BEST), tg) == e  # an Arch, answered from what was remembered
    with pytest.raises(AnalyzerError, match="nor_conv_9x9"):
        analyzer.cost("|nor_conv_9x9~0|+|none~0|none~1|+|none~0|none~1|none~2|", tg)
    with pytest.raises(AnalyzerError, match="neither an NB201 arch string nor a model file"):
        analyzer.cost("no/such/model.onnx", tg)
    with pytest.raises(AnalyzerError, match="target"):
        analyzer.cost(BEST, 42)
