"""The static profile of one model file: load, cost, scan sparsity. A pure function of its inputs."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from . import sparsity, static
from ..checks import check_bool, check_dims, check_int, check_path
from ..errors import ShapeError, UnboundDimError
from ..load import hash_cache
from ..load.onnx_graph import PINNED_NOTE, LoadedModel, load_onnx
from ..records import ModelProfile
from ..units import MAX_BATCH, MAX_DIM

# the head of the note a seeded skeleton carries (a plan, which never measures, drops it: account/search_plan.py)
SEEDED_NOTE = "sample model without stored weights"
SEEDED_PROFILE_NOTE = SEEDED_NOTE + ": seeded random weights are generated when measured; sparsity as recorded for them"


def _macs(loaded: LoadedModel) -> int:
    return sum(c.cost.macs for c in static.cost_nodes(loaded.graph))


def load_at_batch(path: Path, dims: dict[str, int] | None, batch: int | None, hash_file: bool = True,
                   assume_upper_bound: bool = False, trusted: bool = False) -> LoadedModel:
    """Load with the batch bound. Constants in the graph (a Reshape to [1, ...]) can pin parts of it to the
    traced batch, which shape inference does not always notice: when matrix work at batch N is not N x
    the work at batch 1, profile one item and scale by N instead, and say so. A model this tool built itself
    (`trusted`: the synthetic space, whose only reshape is a Flatten from axis 1) pins nothing: not checked."""
    loaded = load_onnx(path, dims, batch, hash_file, assume_upper_bound, trusted)
    if batch is None or batch == 1 or loaded.batch_scale != 1 or trusted:
        return loaded
    one = load_onnx(path, dims, 1, hash_file=False, assume_upper_bound=assume_upper_bound, trusted=trusted)
    if _macs(loaded) == batch * _macs(one):
        return loaded
    notes = tuple(n for n in one.notes) + (PINNED_NOTE.format(batch=batch),)
    return replace(one, sha256=loaded.sha256, batch=batch, batch_scale=batch, notes=notes)


def _remembered_sparsity(loaded: LoadedModel) -> tuple[float | None, float | None]:
    """The weights' sparsity, scanned once per file version: remembered by the stat of the model file and of
    every external-data file it reads, so a second profile reads no weight bytes."""
    files = [Path(loaded.path)] + sorted({w.external.path for w in loaded.weights.values() if w.external is not None})
    try:
        key = hash_cache.stat_key(files)
    except OSError:
        key = None
    hit = hash_cache.lookup_value("sparsity", key) if key else None
    if isinstance(hit, list) and len(hit) == 2:
        return hit[0], hit[1]
    result = sparsity.scan(loaded.graph, loaded.initializers, loaded.weights)
    sp = (result.weight_sparsity, result.nm_sparsity)
    if key:
        hash_cache.remember_value("sparsity", key, list(sp))
    return sp


def _hasher(path: Path | None):
    try:
        size = 0 if path is None else path.stat().st_size
    except OSError:
        size = 0  # the loader says what is wrong with it
    return hash_cache.hashing_pool(size)


@dataclass(frozen=True)
class ReadOptions:
    """How profile_onnx reads the file beyond its costs: `trusted`, a model this tool built itself in this process
    (see load_onnx); `files_read`, if given, receives the external-data files the profile depends on (for remembering
    it: load/profile_memo.py)."""
    trusted: bool = False
    files_read: list[Path] | None = None


def profile_onnx(path: str | Path, dims: dict[str, int] | None = None, batch: int | None = None,
                 per_op: bool = False, scan_sparsity: bool = True, hash_file: bool = True,
                 assume_upper_bound: bool = False, reading: ReadOptions = ReadOptions()) -> ModelProfile:
    """Profile an ONNX file: macs, flops, params, bytes, sparsity and coverage (conventions: docs/method/counting.md).
    scan_sparsity=False skips reading weights (sparsity fields None); hash_file=False skips the file's
    sha256 (empty string), the only other step that reads every byte. assume_upper_bound costs the largest
    output of selections whose size depends on input values (NonZero, Unique, Compress, NMS), with a note.
    `reading`: trusted, and where the external-data files read are reported (ReadOptions)."""
    trusted, files_read = reading.trusted, reading.files_read
    path = check_path("path", path)
    dims = check_dims("dims", dims, MAX_DIM)
    if batch is not None:
        check_int("batch", batch, 1, MAX_BATCH)
    for name, flag in (("per_op", per_op), ("scan_sparsity", scan_sparsity), ("hash_file", hash_file),
                       ("assume_upper_bound", assume_upper_bound), ("trusted", trusted)):
        check_bool(name, flag)
    with _hasher(Path(path) if hash_file else None) as pool:
        # hashlib releases the GIL: a large file is hashed while the graph is parsed and the weights scanned
        digest = pool.submit(hash_cache.file_sha256, Path(path)) if hash_file else None
        loaded = load_at_batch(Path(path), dims, batch, hash_file=False, assume_upper_bound=assume_upper_bound,
                                trusted=trusted)
        params, _ = sparsity.weight_roles(loaded.graph, loaded.initializers)
        sp: tuple[float | None, float | None] = (None, None)
        notes = loaded.notes
        if scan_sparsity and loaded.seeded is not None:  # a sample skeleton: no weight bytes, sparsity on record
            sp = (float(loaded.seeded.get("weight_sparsity", 0.0)), float(loaded.seeded.get("nm_sparsity", 0.0)))
            notes = notes + (SEEDED_PROFILE_NOTE,)
        elif scan_sparsity:
            sp = _remembered_sparsity(loaded)
        sha256 = digest.result() if digest is not None else ""
        if files_read is not None:
            files_read += sorted({w.external.path for w in loaded.weights.values() if w.external is not None})
    try:
        header = static.ProfileHeader(
            model=str(path), sha256=sha256, opset=loaded.opset, batch=loaded.batch,
            params=static.params_of(loaded.initializers, params), scale=loaded.batch_scale, sparsity=sp, notes=notes,
            dims=loaded.dims)
        return static.summarise(header, loaded.graph, loaded.initializers, per_op=per_op)
    except UnboundDimError as e:
        lenient = [n for n in loaded.notes if n.endswith("shapes inferred leniently")]
        if lenient:  # the earlier inconsistency is the cause worth naming
            raise ShapeError(f"{path}: {e}; earlier, {lenient[0].removesuffix('; shapes inferred leniently')}") from None
        raise


def profile_torch_spec(spec: str, shapes: list[list[int]], trust_pickle: bool, export_path: Path | None, per_op: bool,
                       scan_sparsity: bool) -> tuple[list[ModelProfile], list[str]]:
    """A PyTorch module (FILE.py:factory, a TorchScript or pickled file) through fvcore, and with export_path
    also its ONNX export: (profiles, lines comparing the two). TorchScript is profiled through its ONNX
    export (fvcore cannot hook a ScriptModule)."""
    import tempfile

    from ..load import torch_fvcore as tf

    if spec.rpartition(":")[0].endswith(".py"):
        module, inputs, name = tf.load_factory(spec)
    else:
        module, inputs, name = tf.load_torch_file(spec, shapes, trust_pickle)
    if tf.is_script_module(module):
        with tempfile.TemporaryDirectory() as tmp:
            target = export_path or Path(tmp) / "scripted.onnx"
            tf.export_onnx(module, inputs, str(target))
            p = profile_onnx(target, per_op=per_op, scan_sparsity=scan_sparsity)
        note = f"TorchScript {name}: profiled through its ONNX export (torch.onnx.export, opset 17)"
        return [replace(p, model=name, notes=[note] + p.notes)], []
    tp = tf.profile_torch(module, inputs, name=name, per_op=per_op, scan_sparsity=scan_sparsity)
    if export_path is None:
        return [tp], []
    tf.export_onnx(module, inputs, str(export_path))
    op = profile_onnx(export_path, per_op=per_op, scan_sparsity=scan_sparsity)
    diff = (op.macs - tp.macs) / tp.macs if tp.macs else 0.0
    lines = [f"{name}: MACs fvcore {tp.macs:,} vs ONNX {op.macs:,} ({diff:+.3%}); FLOPs {tp.flops:,} vs {op.flops:,}"]
    for label, t in (("fvcore", tp.op_type_totals), ("ONNX", op.op_type_totals)):
        lines.append(f"  MACs by op type ({label}): " + ", ".join(f"{k} {v['macs']:,}" for k, v in t.items() if v["macs"]))
    return [tp, op], lines


def profile_graph(model: str, identity: str, graph, initializers, batch: int | None, per_op: bool = True,
                  notes: tuple[str, ...] = (), opset: int = 17) -> ModelProfile:
    """The static profile of a network our own space builders made as IR (load/nb201.py): every shape known,
    weights with dims only (no bytes to hash or scan: sparsity None). `identity` stands where a file's sha256
    would (the space's choices hashed)."""
    params, _ = sparsity.weight_roles(graph, initializers)
    header = static.ProfileHeader(model=model, sha256=identity, opset=opset, batch=batch,
                                  params=static.params_of(initializers, params), notes=notes)
    return static.summarise(header, graph, initializers, per_op=per_op)
