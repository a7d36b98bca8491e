"""Where a search population comes from (issue #17), as a stream of plain, serialisable candidate tasks:

  space:N[:SEED]   the first N candidates of the synthetic MobileNet-like space (load/space.py), built by the
                   workers themselves: a task is only (seed, index)
  nb201:N[:SEED]   N distinct NAS-Bench-201 cells drawn uniformly (load/nb201_arch.py), each network built straight
                   into the IR in the worker (load/nb201.py): a task is only its arch string
  nb201:FILE       the NB201 arch strings of a text file, one a line
  nb101: ofa: fbnet:  N[:SEED] or FILE (JSON lines): NAS-Bench-101 cells, Once-for-All MobileNetV3 subnets, FBNet
                   layer choices; layers:FILE a user's network as a JSON layer list (load/ir_spaces.py, docs/spaces.md)
  space:full       that space's full network (every stage at its deepest, every block 7x7 with expansion 6)
  cells:NxF:OPS:COUNT[:SEED]   the first COUNT candidates of a CIFAR-10 cell space (load/cells.py): random cells
                   of NASNet's space with operation list OPS (nasnet or amoeba), N cells per stack, F filters
  darts-supernet[:CELLSxCHANNELS]   DARTS's search network, every operation on every edge (default 8x16)
  decoders:N[:SEED]  the first N decoder shapes of the synthetic decoder space (load/decoder_space.py): configs,
                   priced with phase serving
  FILE.py:NAME     the user's generator: NAME() (or NAME itself, if it is iterable) yields candidates, each
                   (name, model), (name, model, accuracy) or a dict with keys name, model, accuracy,
                   example_inputs; a model is an onnx.ModelProto, ONNX bytes, a path to an .onnx file, or a
                   torch.nn.Module with example_inputs (exported with torch's TorchScript exporter, opset 17), or a
                   decoder's config (a dict, as its config.json holds it)
  a folder         its manifest.toml (accuracy and role from it) or else its *.onnx files, else its *.json configs
  manifest.toml    the models it lists
  FILE.onnx        one model

Streams are lazy: a population of any size is read a slice at a time.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any, Iterable, Iterator

from ..errors import AnalyzerError, UsageError
from . import ir_spaces
from .candidate import CandidateTask
from .manifest import MANIFEST, read_manifest

_SPACE = re.compile(r"^space:(\d+)(?::(\d+))?$")
_CELLS = re.compile(r"^cells:(\d+)x(\d+):([a-z]+):(\d+)(?::(\d+))?$")
_SUPERNET = re.compile(r"^darts-supernet(?::(\d+)x(\d+))?$")
_NB201 = re.compile(r"^nb201:(\d+)(?::(\d+))?$")
_DECODERS = re.compile(r"^decoders:(\d+)(?::(\d+))?$")
MAX_CANDIDATES = 10_000_000  # a population; work grows with it


def from_path(path: Path | str, name: str | None = None, accuracy: float | None = None, role: str = "") -> CandidateTask:
    """A model file as a candidate; its identity is the file's sha256 ('' when it cannot be read: evaluating it
    then says why, naming the file)."""
    from .hash_cache import file_sha256

    p = Path(path)
    try:
        identity = file_sha256(p) if p.is_file() else ""
    except OSError:
        identity = ""
    return CandidateTask(name or p.stem, identity, path=str(p), accuracy=accuracy, role=role)


def known_size(spec: str) -> int | None:
    """How many candidates `spec` holds, when that is known without reading them (space:N, decoders:N, cells, supernets)."""
    m = _SPACE.match(spec) or _DECODERS.match(spec) or _CELLS.match(spec) or _NB201.match(spec)
    if m:
        return int(m.group(4) if m.re is _CELLS else m.group(1))
    if ir_spaces.known_size(spec) is not None:
        return ir_spaces.known_size(spec)
    return 1 if spec == "space:full" or _SUPERNET.match(spec) else None


def candidate_file(task: CandidateTask, folder: Path, training: bool = False) -> Path:
    """The candidate's model file: its own path, or its bytes (a synthetic one built here, in its training
    form with batch norms when `training`) written to folder/NAME.onnx, which the caller removes."""
    if task.path is not None:
        return Path(task.path)
    from . import space as synthetic  # builds ONNX protos: onnx is imported only for them

    data = task.data if task.data is not None else \
        synthetic.build(synthetic.sample(*task.space), task.space[0], batch_norm=training).SerializeToString()
    out = folder / f"{task.name}.{'json' if data[:1] == b'{' else 'onnx'}"  # a decoder's config, or an ONNX model
    out.write_bytes(data)
    return out


def read(spec: str) -> Iterator[CandidateTask]:
    """The candidates `spec` names (see the module docstring), lazily."""
    if not isinstance(spec, str):
        raise UsageError(f"a population source is text (space:N, nb201:N, a folder, ...), got {type(spec).__name__}")
    for pattern, synthetic_space in ((_SPACE, _space), (_DECODERS, _decoders)):
        m = pattern.match(spec)
        if m:
            n, seed = int(m.group(1)), int(m.group(2) or 0)
            if not 1 <= n <= MAX_CANDIDATES:
                raise UsageError(f"{spec}: the population size must be from 1 to {MAX_CANDIDATES:,}")
            return synthetic_space(n, seed)
    if spec == "space:full" or _CELLS.match(spec) or _SUPERNET.match(spec):
        return _built(spec)
    if spec.startswith("nb201:"):
        return _nb201(spec)
    if spec.partition(":")[0] in ir_spaces.SPACES:
        return ir_spaces.read(spec)
    if ":" in spec and spec.rpartition(":")[0].endswith(".py"):
        return _generator(spec)
    path = Path(spec)
    if not path.exists():
        raise UsageError(f"{spec}: no such file or folder (give a folder, a manifest, an .onnx file, space:N or FILE.py:NAME)")
    return _files(path)


candidates = read  # the Python API's name: analyzer.candidates("nb201:1000")


def _space(n: int, seed: int) -> Iterator[CandidateTask]:
    from . import space_arch as synthetic  # the draw alone: no onnx to import where the store answers every candidate

    for i in range(n):
        a = synthetic.sample(seed, i)
        arch = a.to_dict()
        ident = hashlib.sha256(json.dumps(["mobile-space-v1", seed, arch], sort_keys=True).encode()).hexdigest()
        yield CandidateTask(a.name(i), ident, space=(seed, i), arch=arch)


def nb201_task(arch: Any, name: str, accuracy: float | None = None) -> CandidateTask:
    """An NB201 cell (an nb201_arch.Arch) as a candidate: its identity hashes the space's version and the arch string."""
    text = arch.to_string()
    ident = hashlib.sha256(json.dumps(["nb201-v1", text]).encode()).hexdigest()
    return CandidateTask(name, ident, accuracy=accuracy, arch={"nb201": text}, ir_space=("nb201", text))


def _nb201(spec: str) -> Iterator[CandidateTask]:
    """nb201:N[:SEED] (N distinct cells sampled) or nb201:FILE (arch strings, one a line); names nb201_INDEX by the
    cell's position in the space's enumeration, so one cell has one name whatever the source."""
    from . import nb201, nb201_arch

    m = _NB201.match(spec)
    if m:
        n, seed = int(m.group(1)), int(m.group(2) or 0)
        if not 1 <= n <= nb201_arch.SPACE_SIZE:
            raise UsageError(f"{spec}: NB201 has {nb201_arch.SPACE_SIZE:,} cells; draw from 1 to {nb201_arch.SPACE_SIZE:,}")
        archs: Iterable[Any] = (nb201_arch.from_index(i) for i in nb201_arch.sample_indices(n, seed))  # built as drawn
    else:
        archs = nb201.read_archs(Path(spec.removeprefix("nb201:")))
    for a in archs:
        yield nb201_task(a, f"nb201_{a.index():05d}")


def _built(spec: str) -> Iterator[CandidateTask]:
    """Networks our own builders make in the driver (a plan evaluates a handful): the space's full network, CIFAR-10
    cells, DARTS's supernet."""
    from . import cells
    from . import space as synthetic  # builds ONNX protos: onnx is imported only for them

    m, s = _CELLS.match(spec), _SUPERNET.match(spec)
    if m:
        repeats, filters, ops, n, seed = int(m.group(1)), int(m.group(2)), m.group(3), int(m.group(4)), int(m.group(5) or 0)
        if ops not in cells.OPS or not (1 <= repeats <= 10 and 1 <= filters <= 1024 and 1 <= n <= MAX_CANDIDATES):
            raise UsageError(f"{spec}: expected cells:NxF:OPS:COUNT[:SEED] with OPS one of {', '.join(cells.OPS)}, "
                             "N from 1 to 10, F from 1 to 1024")
        models = ((a.name(i), cells.build(a, repeats, filters)) for i in range(n) for a in [cells.sample(ops, seed, i)])
    elif s:
        layers, channels = int(s.group(1) or 8), int(s.group(2) or 16)
        if not (3 <= layers <= 50 and 1 <= channels <= 1024):
            raise UsageError(f"{spec}: expected darts-supernet[:CELLSxCHANNELS] with 3 to 50 cells, 1 to 1024 channels")
        models = iter([(f"darts_supernet_{layers}x{channels}", cells.supernet(layers, channels))])
    else:
        models = iter([("space_full", synthetic.build(synthetic.full(), 0, batch_norm=True))])
    for name, model in models:
        data = model.SerializeToString()
        yield CandidateTask(name, hashlib.sha256(data).hexdigest(), data=data)


def _decoders(n: int, seed: int) -> Iterator[CandidateTask]:
    from . import decoder_space

    for i in range(n):
        cfg = decoder_space.sample(seed, i)
        data = json.dumps(cfg, sort_keys=True).encode()
        yield CandidateTask(decoder_space.name(cfg, i), hashlib.sha256(data).hexdigest(), data=data, arch=cfg)


def _files(path: Path) -> Iterator[CandidateTask]:
    from .hash_cache import file_sha256

    entries: list[tuple[str, Path, float | None, str]]
    manifest = path / MANIFEST if path.is_dir() else path if path.name == MANIFEST else None
    if manifest is not None and manifest.is_file():
        entries = [(e.name, e.file, e.top1_accuracy_pct, e.role) for e in read_manifest(manifest)]
    elif path.is_dir():
        entries = [(f.stem, f, None, "") for f in sorted(path.glob("*.onnx")) or sorted(path.glob("*.json"))]
        if not entries:
            raise UsageError(f"{path}: is a directory with no .onnx models (nor .json decoder configs)")
    else:
        entries = [(path.stem, path, None, "")]
    for name, file, acc, role in entries:
        try:
            digest = file_sha256(file)  # a missing file, or a FIFO or device, is an error naming it
        except OSError as e:
            raise UsageError(f"{file}: cannot be read ({e.strerror})") from None
        yield CandidateTask(name, digest, path=str(file), accuracy=acc, role=role)


def _generator(spec: str) -> Iterator[CandidateTask]:
    from .user_code import load_attr

    _, _, gen = load_attr(spec, "generator")  # runs FILE.py's top-level code (user_code.py says when, and why)
    try:
        items = gen() if callable(gen) else iter(gen)
    except Exception as e:  # noqa: BLE001
        raise AnalyzerError(f"{spec}: the generator failed ({type(e).__name__}: {e})") from None
    seen: set[str] = set()
    i = 0
    while True:
        try:
            item = next(items)
        except StopIteration:
            return
        except Exception as e:  # noqa: BLE001
            raise AnalyzerError(f"{spec}: the generator failed after {i} candidates ({type(e).__name__}: {e})") from None
        task = _task(spec, i, item)
        if task.name in seen:
            raise UsageError(f"{spec}: candidate #{i + 1}: name '{task.name}' is used twice; names must be unique")
        seen.add(task.name)
        i += 1
        yield task


def _task(spec: str, i: int, item: Any) -> CandidateTask:
    where = f"{spec}: candidate #{i + 1}"
    if isinstance(item, dict):
        name, model, acc, inputs = item.get("name"), item.get("model"), item.get("accuracy"), item.get("example_inputs")
    elif isinstance(item, tuple) and len(item) in (2, 3):
        name, model, acc, inputs = item[0], item[1], item[2] if len(item) == 3 else None, None
    else:
        raise UsageError(f"{where}: yield (name, model), (name, model, accuracy) or a dict with name and model")
    if not isinstance(name, str) or not name or "/" in name:
        raise UsageError(f"{where}: name {name!r} must be a non-empty string without '/'")
    if acc is not None and not (isinstance(acc, (int, float)) and not isinstance(acc, bool) and 0 <= acc <= 100):
        raise UsageError(f"{where} ('{name}'): accuracy {acc!r} must be a number in 0..100 (top-1 %)")
    data = _model_bytes(where, name, model, inputs)
    return CandidateTask(name, hashlib.sha256(data).hexdigest(), data=data, accuracy=None if acc is None else float(acc))


def _model_bytes(where: str, name: str, model: Any, inputs: Any) -> bytes:
    import onnx

    if isinstance(model, dict):  # a decoder's config.json, as a dict
        try:
            return json.dumps(model, sort_keys=True).encode()
        except (TypeError, ValueError) as e:
            raise UsageError(f"{where} ('{name}'): the config dict is not JSON ({e})") from None
    if isinstance(model, onnx.ModelProto):
        return model.SerializeToString()
    if isinstance(model, (bytes, bytearray)):
        return bytes(model)
    if isinstance(model, (str, Path)):
        try:
            return Path(model).read_bytes()
        except OSError as e:
            raise UsageError(f"{where} ('{name}'): {model}: cannot be read ({e.strerror})") from None
    if type(model).__module__.startswith("torch") or hasattr(model, "forward"):
        if inputs is None:
            raise UsageError(f"{where} ('{name}'): a torch module needs example_inputs")
        import tempfile

        from .torch_fvcore import export_onnx

        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / f"{name}.onnx"
            export_onnx(model, inputs if isinstance(inputs, tuple) else (inputs,), str(out))
            return out.read_bytes()
    raise UsageError(f"{where} ('{name}'): model of type {type(model).__name__}; expected an onnx.ModelProto, bytes, "
                     "a path, a torch module or a decoder's config dict")
