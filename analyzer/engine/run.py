"""Evaluating many candidates on one target: `evaluate(candidates, target, *, executor, store)`.

Candidates stream in blocks; each block's results are read from the results store where it holds them (keyed
by the candidate's identity and the engine's key: the target's settings, the contents of the hardware profile,
the projection defaults and the stated defaults, and the code), and the rest are evaluated in chunks by the
executor (this process, a process pool or Ray), each finished chunk written to the store in one transaction. So
a killed run resumes where it stopped, a repeated run reads the store, and identical models under two names
share one row.
"""

from __future__ import annotations

import sys
from collections import deque
from dataclasses import MISSING, dataclass, fields, replace
from itertools import islice
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from ..checks import check_instance, check_path
from ..errors import StoreError, UsageError, echo, param
from ..load.sources import CandidateTask, from_path
from ..records import Evaluation
from ..target import Target
from .chain import target_inputs
from .executors import InlineExecutor

KIND = "evaluation"
CHUNK = 32  # candidates per task: large enough that dispatch costs little, small enough to balance 2 workers
BLOCK = 16  # chunks read from the candidates (and looked up in the store) at a time


def engine_key(target: Target) -> dict[str, Any]:
    """What an evaluation depends on besides the model's bytes: the target's settings, the contents of the
    hardware profile and of the shipped defaults (a --profiles override changes the key), and the code."""
    from ..profiles import SHIPPED
    from .store import code_version, file_digest

    return {**target.settings(), "hardware_profile": file_digest(Path(target.hardware.file)),
            "projection_defaults": file_digest(SHIPPED / "projection-defaults.toml"),
            "defaults": file_digest(SHIPPED / "defaults.toml"), "code": code_version()}


@dataclass(frozen=True)
class Result:
    """One candidate's evaluation, where it came from (store or evaluated) and the host that evaluated it."""

    task: CandidateTask
    evaluation: Evaluation
    from_store: bool = False
    host: str = ""


_NUMBERS = ("latency_s", "throughput_per_s", "energy_j_per_item", "facility_energy_j_per_item", "co2e_g_per_item",
            "co2e_kg_per_million", "energy_log_sigma_model", "energy_log_sigma_shared", "energy_log_sigma", "macs", "flops",
            "params", "bytes_moved", "kernels", "batch")
_TEXTS = ("identity", "hardware", "dtype", "runtime", "phase", "item", "basis", "sha256")


def stored_evaluation(store: Any, payload: Any, name: str = "", model: Any = "", inputs: list | None = None) -> Evaluation:
    """A stored row as an Evaluation, checked as the engine would have made it (a row written by this code is
    always one): a dict with finite, non-negative numbers (an integer at most 2**53, as JSON holds exactly) and text
    where text belongs. Anything else means the file was damaged or written by something else: the store is marked
    broken (a StoreError). `name`, `model` and `inputs` are the caller's (not stored)."""
    import math

    from ..checks import MAX_EXACT_INT

    def bad(why: str) -> StoreError:
        store.broken = StoreError(f"store {store.path}: a stored result is damaged ({why}); it was left as it is")
        return store.broken

    def number(v: Any) -> bool:
        return (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0
                and not (isinstance(v, int) and v > MAX_EXACT_INT))

    if not isinstance(payload, dict):
        raise bad(f"a JSON {type(payload).__name__}, not an object")
    if "identity" not in payload:  # the one field without a default (name and model are the caller's)
        raise bad("identity is missing")
    get = payload.get
    for k in _NUMBERS:
        v = get(k, 0)
        t = type(v)  # JSON's own float and int first (the check below is theirs, spelled out)
        if not ((t is float and 0 <= v <= _MAX_FLOAT) or (t is int and 0 <= v <= MAX_EXACT_INT)) and not number(v):
            raise bad(f"{k} = {payload[k]!r}")
    for k in _TEXTS:
        if not isinstance(payload.get(k, ""), str):
            raise bad(f"{k} = {payload[k]!r}")
    for k, kind in (("energy_range_j", dict), ("latency_range_s", dict), ("notes", list), ("detail", dict), ("inputs", list)):
        if not isinstance(payload.get(k, kind()), kind):
            raise bad(f"{k} is not a {kind.__name__}")
    embodied = payload.get("embodied_co2e_g_per_item")
    if embodied is not None and not number(embodied):
        raise bad(f"embodied_co2e_g_per_item = {embodied!r}")
    if payload.get("error") is not None:
        raise bad("a failed evaluation is never stored")
    return _evaluation(payload, name, model, list(inputs) if inputs is not None else [])


_MAX_FLOAT = sys.float_info.max  # finite: 0 <= v <= it is false for inf and nan
_NOT_STORED = ("inputs", "name", "model")  # the target's (the same for every row) and the caller's
_FIELDS = fields(Evaluation)
_STORED_FIELDS = frozenset(f.name for f in _FIELDS) - set(_NOT_STORED)
_DEFAULTS = {f.name: f.default for f in _FIELDS if f.default is not MISSING}
_FACTORIES = tuple((f.name, f.default_factory) for f in _FIELDS if f.default_factory is not MISSING)
_PLAIN_INIT = not hasattr(Evaluation, "__post_init__") and not hasattr(Evaluation, "__slots__")


def _evaluation(payload: dict[str, Any], name: str, model: Any, inputs: list) -> Evaluation:
    """Evaluation.from_dict({**payload, name, model, inputs}): the same object, made without the frozen dataclass's
    __init__ where it only stores each field (its setattr per field was two thirds of reading a stored row back):
    the defaults (a fresh one from each factory), then the payload's fields, then the caller's three."""
    if not _PLAIN_INIT or not payload.keys() <= _STORED_FIELDS:
        return Evaluation.from_dict({**payload, "name": name, "model": model, "inputs": inputs})
    e = object.__new__(Evaluation)
    d = e.__dict__
    d.update(_DEFAULTS)
    for k, make in _FACTORIES:
        d[k] = make()
    d.update(payload)
    d["name"], d["model"], d["inputs"] = name, model, inputs
    return e


def _plain(v: Any) -> Any:
    """asdict's conversion of a value (dataclasses to dicts, copies of containers), for the few nested values."""
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return type(v)(_plain(x) for x in v) if type(v) in (list, tuple) else [_plain(x) for x in v]
    if hasattr(v, "__dataclass_fields__") and not isinstance(v, type):
        return {f: _plain(getattr(v, f)) for f in v.__dataclass_fields__}
    return v


def stored_payload(e: Evaluation) -> dict[str, Any]:
    """What the store keeps of an evaluation: `e.to_dict()` without the fields it does not keep, converted without
    asdict's deep copy of the target's inputs, which it drops (that copy was most of a population's store time).
    `detail` comes last, after `error` and `exit_code`."""
    out = {f: _plain(getattr(e, f)) for f in e.__dataclass_fields__ if f not in _NOT_STORED and f != "detail"}
    out["detail"] = _plain(e.detail)  # last: a reader that does not need it stops before it (Store.get_many's skip)
    return out


def _model(t: CandidateTask) -> Any:
    return t.path if t.path is not None else t.name


def _task(c: CandidateTask | Path | str) -> CandidateTask:
    return c if isinstance(c, CandidateTask) else from_path(check_path("candidates", c))


def candidate_list(candidates: Any) -> Iterable[CandidateTask | Path | str]:
    """The candidates as an iterable of tasks or paths: one path (text or a Path) or task is a list of one, never
    the characters of a string; anything not iterable, or a dict or bytes, is refused naming the parameter."""
    if isinstance(candidates, (str, Path, CandidateTask)):
        return [candidates]
    if isinstance(candidates, (dict, bytes, bytearray)) or not isinstance(candidates, Iterable):
        raise UsageError(f"{param('candidates')} {echo(candidates)}: must be a model path or a list of them, not "
                         f"{type(candidates).__name__}")
    return candidates


def iter_evaluate(candidates: Iterable[CandidateTask | Path | str], target: Target, *, executor: Any = None,
                  store: Any = None, profiles_ver: str = "", chunk: int = CHUNK, cache: dict | None = None,
                  detail: bool = True) -> Iterator[Result]:
    """Each candidate's Result as soon as it is known (from the store first, then as chunks finish: not in input
    order); the workers run under this caller's limits (load/guard.current()). `cache` keeps static profiles across calls when evaluating in this process. detail=False: evaluations
    read from the store come without their `detail` (an empty dict; the rest is the same), which is most of a stored
    row and which a population's records do not use."""
    from ..load import guard
    from .store import result_keyer

    check_instance("target", target, Target, "a Target, as analyzer.resolve_target returns")
    candidates = candidate_list(candidates)
    executor = executor or InlineExecutor(cache)
    use_store = store is not None and not target.per_kernel  # every kernel's row is not worth keeping
    key_parts = engine_key(target) if use_store else {}
    key_of = result_keyer(KIND, key_parts, profiles_ver)
    inputs = target_inputs(target)
    limits = guard.current()
    pending: dict[int, list[CandidateTask]] = {}

    def attach(e: Evaluation, t: CandidateTask) -> Evaluation:
        return replace(e, name=t.name, model=_model(t), inputs=list(inputs)) if e.ok else e

    def chunks() -> Iterator[tuple[int, list[CandidateTask]]]:
        it = iter(_task(c) for c in candidates)
        n = 0
        while True:
            block = list(islice(it, BLOCK * chunk))
            if not block:
                return
            found: dict[int, Evaluation] = {}
            if use_store and store.broken is None:
                keys: dict[str, list[int]] = {}
                for i, t in enumerate(block):
                    if t.identity:
                        keys.setdefault(key_of(t.identity), []).append(i)
                try:
                    rows = store.get_many(KIND, {k: k for k in keys}, "" if detail else "detail")
                    found = {i: stored_evaluation(store, rows[k], block[i].name, _model(block[i]), inputs)
                             for k, idx in keys.items() if k in rows for i in idx}
                except StoreError:
                    found = {}  # the store is marked broken: these are evaluated, and nothing more is read or written
            hits.extend(Result(block[i], e, True) for i, e in found.items())
            rest = [t for i, t in enumerate(block) if i not in found]
            for j in range(0, len(rest), chunk):
                pending[n] = rest[j:j + chunk]
                yield n, pending[n]
                n += 1

    hits: deque[Result] = deque()  # read from the store: yielded before the chunks read with them are evaluated
    for done in executor.run(chunks(), target, limits):
        while hits:
            yield hits.popleft()
        i, host, evaluations = done
        tasks = pending.pop(i)
        rows = []
        for t, e in zip(tasks, evaluations):
            e = attach(e, t)
            if use_store and e.ok and t.identity:
                payload = stored_payload(e)
                rows.append((KIND, key_of(t.identity), e.model, e.sha256 or t.identity,
                             key_parts, profiles_ver, payload))
            yield Result(t, e, False, host)
        if rows and store.broken is None:
            try:
                store.put_many(rows)
            except StoreError:
                pass  # marked broken: the run goes on without the store, and the caller says so
    while hits:
        yield hits.popleft()


def evaluate(candidates: Iterable[CandidateTask | Path | str], target: Target, *, executor: Any = None, store: Any = None,
             profiles_ver: str = "", cache: dict | None = None, progress: Callable[[str], None] | None = None) -> list[Evaluation]:
    """Every candidate evaluated on `target` (see the module docstring), in the order given. A candidate that
    fails is an Evaluation with its error, so one bad file does not lose the others' results. One model file may be
    given as itself (text or a Path): a list of one."""
    tasks = [_task(c) for c in candidate_list(candidates)]
    check_instance("target", target, Target, "a Target, as analyzer.resolve_target returns")
    order = {id(t): i for i, t in enumerate(tasks)}
    out: list[Evaluation | None] = [None] * len(tasks)
    for r in iter_evaluate(tasks, target, executor=executor, store=store, profiles_ver=profiles_ver, cache=cache):
        out[order[id(r.task)]] = r.evaluation
        if progress is not None:
            progress(r.task.name)
    return [e for e in out if e is not None]
