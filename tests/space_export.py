"""The check every space built straight into the IR passes (tests/load/test_nb101.py, test_ofa.py, test_fbnet.py,
test_layers.py): the same network written as a torch module, exported with the TorchScript exporter (opset 17,
batch norms kept: TrainingMode.PRESERVE, as PyTorch runs an eval-mode module), profiled through the ONNX door, has
the IR's MACs, parameters and per-op-type totals (count, MACs, FLOPs, bytes)."""

import warnings

from analyzer.count.profile import profile_graph, profile_onnx

# what the exporter adds around shapes (and the flatten it writes for x.flatten(1)): not the network's work
SHAPE_OPS = frozenset({"Constant", "Identity", "Flatten", "Reshape", "Shape", "Gather", "Unsqueeze"})


def randomise(net, torch):
    """Distinct weights: the exporter shares initializers that are equal (fresh batch norms are)."""
    torch.manual_seed(0)
    with torch.no_grad():
        for t in net.state_dict().values():
            if t.is_floating_point():
                t.uniform_(0.5, 1.5)
    return net.eval()


def assert_export_equal(tmp_path, torch, net, input_shape, graph, inits, skip=SHAPE_OPS):
    """The IR (graph, inits at batch input_shape[0]) against the export of `net`; returns both profiles."""
    batch = input_shape[0]
    out = tmp_path / "net.onnx"
    randomise(net, torch)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.zeros(*input_shape),), str(out), dynamo=False, opset_version=17,
                          training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
    exported = profile_onnx(out, batch=batch, scan_sparsity=False)
    ours = profile_graph("ir", "", graph, inits, batch)
    assert ours.coverage == 1.0 and exported.coverage == 1.0
    assert (ours.macs, ours.params) == (exported.macs, exported.params)
    assert ours.params == sum(p.numel() for p in net.parameters())
    theirs = {k: v for k, v in exported.op_type_totals.items() if k not in skip}
    mine = {k: v for k, v in ours.op_type_totals.items() if k not in skip}
    assert mine == theirs, {k: (mine.get(k), theirs.get(k)) for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k)}
    return ours, exported
