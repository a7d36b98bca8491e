"""The one evaluation chain: a candidate's model file -> its static profile (count) -> the kernels its runtime
launches, timed and scheduled on the target's hardware (project) -> device energy per item -> facility energy,
CO2e and the embodied share at the target's site (account), for whichever phase the target names. Every command
that evaluates a model comes through `evaluate_one`; nothing else chains these steps.

`evaluate_one` is a pure function of a candidate task and a target (plain, picklable records), so a process
pool or a Ray cluster runs it unchanged (engine/executors.py). What it returns is an `Evaluation` record; the
provenance of its inputs is the target's (`target_inputs`), the same for every candidate.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..account.serving import item_account
from ..account.step import DeviceCost, account, per_item, shares_inputs
from ..errors import AnalyzerError, UsageError, echo, naming
from ..load.sources import CandidateTask, candidate_file
from ..profiles import defaults, projection_defaults
from ..project import Params, project, resolve_params
from ..records import Evaluation, ModelProfile
from ..target import Target

_SCRATCH: list[Path] = []


@dataclass(frozen=True)
class Device:
    """What the project stage of a phase gives the account stage: time and device energy per item (the device-cost
    record at the target's site, `cost`), their bands and error model, and what the Evaluation reports of the work
    (from the static profile where there is one, else from the phase's own count)."""

    cost: DeviceCost  # one item at the site's power boundary (account/step.py per_item)
    latency_s: float  # one batch
    items_per_batch: int
    energy_range_j: Any
    latency_range_s: Any
    energy_log_sigma: float
    energy_log_sigma_model: float
    energy_log_sigma_shared: float
    basis: str
    flops: float
    kernels: Any
    profile: ModelProfile | None = None
    macs: int = 0
    params: int = 0
    bytes_moved: int = 0
    sha256: str = ""
    notes: tuple[str, ...] = ()
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def energy_j_per_item(self) -> float:
        return self.cost.dynamic_j


def _device_of(target: Target, energy_j: float, latency_s: float, items: int, **rest: Any) -> Device:
    """A phase's result, its device cost per item made at the target's site (busy latency / items)."""
    cost = per_item(target.hardware, target.site, energy_j, latency_s / items)
    return Device(cost, latency_s, items, **rest)


def _scratch() -> Path:
    """A folder of this process for generated candidates' bytes (profiles read files)."""
    if not _SCRATCH:
        _SCRATCH.append(Path(tempfile.mkdtemp(prefix="nas-analyzer-eval-")))
    return _SCRATCH[0]


def params_for(target: Target) -> Params:
    """The projection's parameters on the target (for a training step: at the runtime the step runs on)."""
    return _params(target.hardware, target.dtype, _runtime(target))


_PARAMS: dict[tuple[int, str, str], tuple[Any, Params]] = {}


def _params(hw: Any, dtype: str, runtime: str) -> Params:
    """resolve_params, remembered per profile object (profiles are frozen; the object is kept with its entry so its
    id is not reused)."""
    key = (id(hw), dtype, runtime)
    hit = _PARAMS.get(key)
    if hit is None or hit[0] is not hw:
        if len(_PARAMS) > 256:
            _PARAMS.clear()
        hit = _PARAMS[key] = (hw, resolve_params(hw, dtype, runtime, projection_defaults()))
    return hit[1]


def _runtime(target: Target) -> str:
    if target.phase.kind == "train":
        from ..project.training import training_runtime

        return training_runtime(target.hardware)
    return target.runtime


def target_inputs(target: Target) -> list[dict[str, Any]]:
    """The provenance of every number an evaluation on `target` uses: the hardware's projection parameters, the
    training parameters of a training step, the site (PUE, grid, utilisation) and the embodied figures."""
    params = params_for(target)
    hw = target.hardware
    inputs = list(params.inputs)
    if target.phase.kind == "train":
        inputs.append(projection_defaults()[hw.category]["energy_log_sigma_training"].as_input("energy_log_sigma_training", ""))
        inputs += [s.as_input(f"training.{k}", "s" if k.endswith("_s") else "") for k, s in hw.training.items()]
    inputs += list(target.site.inputs)
    inputs += shares_inputs(hw, target.site)
    return inputs


def _profile(path: Path, target: Target, trusted: bool, cache: dict | None, key: tuple) -> ModelProfile:
    from ..count import profile_onnx
    from ..count.profile import ReadOptions

    if cache is not None and key in cache:
        return cache[key]
    prof = profile_onnx(path, dict(target.dims), target.batch, per_op=True, assume_upper_bound=target.assume_upper_bound,
                        reading=ReadOptions(trusted=trusted))
    if cache is not None:
        cache[key] = prof
    return prof


def _ir_profile(task: CandidateTask, target: Target, cache: dict | None) -> ModelProfile:
    """The static profile of a network built straight into the IR (load/nb201.py, load/ir_spaces.py), at the
    target's batch."""
    from ..count.profile import profile_graph
    from ..load import ir_spaces

    key = (task.identity, target.batch)
    if cache is not None and key in cache:
        return cache[key]
    assert task.ir_space is not None
    graph, inits = ir_spaces.build(*task.ir_space, target.batch)
    prof = profile_graph(task.name, task.identity, graph, inits, target.batch)
    if cache is not None:
        cache[key] = prof
    return prof


def _segmented(task: CandidateTask, target: Target, params: Params) -> tuple[ModelProfile, Any] | None:
    """A candidate of one of our spaces, each distinct segment evaluated once (engine/memo.py): NB201, NB101, OFA and
    FBNet networks, and the synthetic space's inference form (its sha256 still that of the file `space.build` writes). None: not one,
    or a segment that does not combine (the caller evaluates the whole graph)."""
    from . import memo

    if not memo.ENABLED[0]:
        return None
    if task.ir_space is not None and task.ir_space[0] == "nb201":
        from ..load import nb201

        net = memo.SegmentedNet(task.name, nb201.segments(nb201.arch_of(task.ir_space[1])), nb201.build_segment,
                                pieces=nb201.pieces, fusion_class=nb201.fusion_class, sha256=task.identity)
        return memo.evaluate_segments(net, target, params)
    if task.ir_space is not None and task.ir_space[0] in ("nb101", "ofa", "fbnet"):  # load/nb101.py, ofa.py, fbnet.py
        from ..load import ir_spaces

        segments, build_segment = ir_spaces.segments(*task.ir_space)
        pieces, fusion_class = ir_spaces.pieces(task.ir_space[0])
        return memo.evaluate_segments(memo.SegmentedNet(task.name, segments, build_segment, pieces, fusion_class,
                                                        sha256=task.identity), target, params)
    if task.space is not None and task.data is None and task.path is None and not target.dims:
        import hashlib

        from ..count.profile import SEEDED_PROFILE_NOTE
        from ..load import space, space_ir

        arch = space.sample(*task.space)
        sha = hashlib.sha256(space.build(arch, task.space[0]).SerializeToString()).hexdigest()
        # a seeded skeleton records zero sparsity for its weights (load/space.py: seeded.record)
        net = memo.SegmentedNet(task.name, space_ir.segments(arch), space_ir.build_segment, sha256=sha,
                                notes=(SEEDED_PROFILE_NOTE,), sparsity=(0.0, 0.0))
        return memo.evaluate_segments(net, target, params)
    return None


def _device(path: Path | None, task: CandidateTask, target: Target, cache: dict | None) -> Device:
    """The project stage of the phase (PHASES): time and device energy per item, with the phase's own record. A
    decoder's config.json is priced as it is served, whatever phase is named (it says so when it is not serving)."""
    from ..load.hf_config import is_config

    kind = target.phase.kind
    if path is None and kind not in ("inference", "train"):
        raise UsageError(f"{task.name}: a network built from a space's choices is priced per input (phase inference or train), "
                         f"not {kind}")
    fn = _served if path is not None and (kind == "serving" or is_config(path)) else PHASES[kind]
    return fn(path, task, target, params_for(target), cache)


def _static(path: Path | None, task: CandidateTask, target: Target, cache: dict | None) -> ModelProfile:
    trusted = task.space is not None  # a synthetic candidate was built here by our own code (see load_onnx)
    return _ir_profile(task, target, cache) if path is None else \
        _profile(path, target, trusted, cache, (task.identity or str(path), target.batch, target.dims,
                                                target.assume_upper_bound, target.phase.kind == "train"))


def _inference(path: Path | None, task: CandidateTask, target: Target, params: Params, cache: dict | None) -> Device:
    """A forward: the segments of one of our spaces (memoised), else the whole graph projected."""
    if path is None and not target.per_kernel and target.memory_format == "nchw":  # the memo plans NCHW segments
        built = _segmented(task, target, params)
        if built is not None:
            return _from_projection(target, *built)
    prof = _static(path, task, target, cache)
    return _from_projection(target, prof, project(prof, target.hardware, params, target.runtime, target.dtype,
                                                  per_kernel=target.per_kernel, batch_norm=target.batch_norm,
                                                  memory_format=target.memory_format))


def _train(path: Path | None, task: CandidateTask, target: Target, params: Params, cache: dict | None) -> Device:
    """A training step (forward, backward, optimizer) per sample."""
    from ..project.training import step_record

    hw, prof = target.hardware, _static(path, task, target, cache)
    sigma_t = projection_defaults()[hw.category]["energy_log_sigma_training"].value
    rec = step_record(prof, hw, params, target.dtype, target.phase.optimizer or "sgd-momentum", sigma_t, target.batch_norm,
                      target.memory_format)
    notes = rec.pop("notes")
    return _device_of(target, rec["energy_j_per_sample"], rec["step_s"], rec["batch"], profile=prof,
                      energy_range_j=rec["range"], latency_range_s=rec["latency_range_s"],
                      energy_log_sigma=rec["energy_log_sigma"], energy_log_sigma_model=rec["energy_log_sigma_model"],
                      energy_log_sigma_shared=rec["energy_log_sigma_shared"], basis=rec["basis"], flops=rec["flops_per_step"],
                      kernels=rec["forward_kernels"] + rec["backward_kernels"] + rec["optimizer_kernels"],
                      notes=tuple(notes), detail=rec)


def _decoder_phase(path: Path | None, task: CandidateTask, target: Target, params: Params, cache: dict | None) -> Device:
    """A decoder's prompt (prefill) or one generated token (decode)."""
    from ..count import profile_onnx
    from ..count.decoder import phase_profile

    phase = target.phase
    prof = phase_profile(path, phase.kind, phase.prompt_tokens or 0, None, target.batch, dict(target.dims), profile_onnx,
                         per_op=True, assume_upper_bound=target.assume_upper_bound)
    return _from_projection(target, prof, project(prof, target.hardware, params, target.runtime, target.dtype,
                                                  per_kernel=target.per_kernel, batch_norm=target.batch_norm))


def _from_projection(target: Target, prof: ModelProfile, proj: Any) -> Device:
    sigma = math.hypot(proj.energy_log_sigma_model, proj.energy_log_sigma_shared)
    # a shallow copy: asdict's deep copy of the inputs (dropped: the evaluation's inputs are the target's) and of
    # every breakdown row cost a population a third of its projection time
    detail = {k: getattr(proj, k) for k in proj.__dataclass_fields__ if k != "inputs"}
    notes = tuple(proj.notes)
    detail.pop("notes", None)
    return _device_of(target, proj.energy_j_per_item, proj.latency_s, proj.batch, profile=prof, energy_range_j=proj.range,
                      latency_range_s=proj.latency_range_s, energy_log_sigma=sigma,
                      energy_log_sigma_model=proj.energy_log_sigma_model, energy_log_sigma_shared=proj.energy_log_sigma_shared,
                      basis=proj.basis, flops=proj.flops, kernels=proj.kernels, notes=notes, detail=detail)


def _response(path: Path, task: CandidateTask, target: Target, params: Params, cache: dict | None) -> Device:
    """A whole response per sequence: the prefill, then the decode steps over the growing cache."""
    from ..count import profile_onnx
    from ..count.decoder import decoder_roles
    from ..dist import band
    from ..project.generation import generation_cost

    hw, phase = target.hardware, target.phase

    def profile_at(d: dict[str, int]) -> ModelProfile:
        return profile_onnx(path, d, target.batch, per_op=True, scan_sparsity=False, hash_file=False,
                            assume_upper_bound=target.assume_upper_bound)

    def project_one(p: ModelProfile) -> Any:
        return project(p, hw, params, target.runtime, target.dtype, batch_norm=target.batch_norm)

    g = generation_cost(str(path), decoder_roles(path), phase.prompt_tokens or 0, phase.output_tokens or 1, target.batch,
                        profile_at, project_one, dict(target.dims))
    detail = g.to_dict()
    first = g.prefill
    notes = tuple(detail.pop("notes"))
    return _device_of(target, g.energy_j_per_response, g.response_latency_s, target.batch,
                      energy_range_j=g.energy_j_per_response_band, latency_range_s=band(g.response_latency_s, g.energy_log_sigma),
                      energy_log_sigma=g.energy_log_sigma, energy_log_sigma_model=first["energy_log_sigma_model"],
                      energy_log_sigma_shared=first["energy_log_sigma_shared"], basis=first["basis"],
                      flops=2.0 * g.macs_per_response * target.batch, macs=round(g.macs_per_response * target.batch),
                      kernels=first["kernels"], notes=notes, detail=detail)


def _served(path: Path, task: CandidateTask, target: Target, params: Params, cache: dict | None) -> Device:
    """A decoder from its config.json, served as a vLLM-like engine serves it (project/serving.py): per output token."""
    from ..dist import band
    from ..errors import UsageError, param
    from ..load.hash_cache import file_sha256
    from ..load.hf_config import is_config, read_config
    from ..project.serving import serve, workload

    if target.phase.kind != "serving":
        raise UsageError(f"a decoder's config.json is priced as it is served: give {param('phase')} serving")
    if not is_config(path):
        raise UsageError(f"{param('phase')} serving prices a decoder from its Hugging Face config.json, not an ONNX file")
    spec = read_config(path)
    s, phase = target.phase.serving, target.phase
    assert s is not None
    max_len = int(defaults()["llm_serving"]["max_len_tokens"].value)  # profiles/defaults.toml [llm_serving]
    w = workload(s.lengths, phase.prompt_tokens or 0, phase.output_tokens or 0, s.pairs,
                 max_len=min(spec.max_position_embeddings or max_len, max_len))
    r = serve(spec, target.hardware, params, target.dtype, target.runtime,
              s, w)
    detail = r.to_dict()
    notes = tuple(detail.pop("notes"))
    latency = r.concurrency / r.output_tokens_per_s  # the time the engine takes to emit `concurrency` tokens
    return _device_of(target, r.energy_j_per_output_token, latency, r.concurrency,
                      energy_range_j=r.energy_j_per_output_token_band, latency_range_s=band(latency, r.energy_log_sigma),
                      energy_log_sigma=r.energy_log_sigma, energy_log_sigma_model=r.energy_log_sigma_model,
                      energy_log_sigma_shared=r.energy_log_sigma_shared, basis=params.basis,
                      # per batch, as every Evaluation counts them: the `concurrency` tokens one engine step emits
                      flops=r.flops_per_output_token * r.concurrency, macs=round(r.macs_per_output_token * r.concurrency),
                      params=r.params, bytes_moved=round(r.bytes_per_output_token * r.concurrency),
                      kernels=r.kernels_per_step, notes=notes, detail=detail, sha256=file_sha256(path))


# the project stage of each phase: (model file or None, task, target, params, profile cache) -> Device
PHASES: dict[str, Callable[..., Device]] = {"inference": _inference, "train": _train, "prefill": _decoder_phase,
                                            "decode": _decoder_phase, "response": _response, "serving": _served}


def evaluate_one(task: CandidateTask, target: Target, cache: dict | None = None) -> Evaluation:
    """Profile, project and account one candidate on `target`: its Evaluation, or one naming its error.
    `cache` (a dict) keeps static profiles across calls in one process (a sweep over targets)."""
    written = None
    try:
        built = None
        if target.phase.kind == "inference" and not target.per_kernel and task.space is not None and not target.dims:
            built = _segmented(task, target, params_for(target))  # the synthetic space without its file
        if built is not None:
            dev = _from_projection(target, *built)
        else:
            path = None if task.ir_space is not None else candidate_file(task, _scratch(), training=target.phase.kind == "train")
            written = path if task.path is None else None
            dev = _device(path, task, target, cache)
        return _evaluation(task, target, dev, item_account(account(dev.cost, target.site, target.hardware)))
    except AnalyzerError as e:
        e = naming(e, task.model_label())
        return _failed(task, target, e.message, e.exit_code)  # parameters still marked: rendered as flags by the CLI
    except Exception as e:  # noqa: BLE001 - one candidate's failure must not end a population (see _unexpected)
        return _failed(task, target, _unexpected(task, e), 1)
    finally:
        if written is not None:
            written.unlink(missing_ok=True)


def _evaluation(task: CandidateTask, target: Target, dev: Device, acct: Any) -> Evaluation:
    """The Evaluation record of a candidate's device result and its account."""
    prof, items = dev.profile, dev.items_per_batch
    if target.phase.kind == "serving":  # a request is its output tokens
        per = dev.detail["workload"]["output_tokens_mean"]
        dev.detail["per_request"] = {"output_tokens": per, "facility_energy_j": acct.facility_energy_j_per_item * per,
                                     "co2e_g": acct.co2e_g_per_item * per}
    return Evaluation(
        name=task.name, model=str(task.path) if task.path is not None else task.name, identity=task.identity,
        hardware=target.hardware.name, dtype=target.dtype, runtime=_runtime(target), batch=items,
        phase=target.phase.kind, item=target.phase.item, latency_s=dev.latency_s,
        throughput_per_s=items / dev.latency_s, energy_j_per_item=dev.energy_j_per_item,
        energy_range_j=dev.energy_range_j, latency_range_s=dev.latency_range_s,
        energy_log_sigma_model=dev.energy_log_sigma_model, energy_log_sigma_shared=dev.energy_log_sigma_shared,
        energy_log_sigma=dev.energy_log_sigma, facility_energy_j_per_item=acct.facility_energy_j_per_item,
        idle_j_per_item=acct.idle_j_per_item, host_j_per_item=acct.host_j_per_item,
        co2e_g_per_item=acct.co2e_g_per_item, co2e_kg_per_million=acct.co2e_kg_per_million,
        embodied_co2e_g_per_item=acct.embodied_co2e_g_per_item, basis=dev.basis,
        macs=prof.macs if prof is not None else dev.macs, flops=float(dev.flops),
        params=prof.params if prof is not None else dev.params,
        bytes_moved=prof.bytes_moved if prof is not None else dev.bytes_moved,
        kernels=dev.kernels, sha256=prof.sha256 if prof is not None else dev.sha256, inputs=target_inputs(target),
        notes=list(dev.notes) + list(acct.notes), detail=dev.detail)


def _failed(task: CandidateTask, target: Target, message: str, exit_code: int) -> Evaluation:
    return Evaluation(task.name, task.model_label(), task.identity, hardware=target.hardware.name, dtype=target.dtype,
                      runtime=_runtime(target), batch=target.batch, phase=target.phase.kind, item=target.phase.item,
                      error=message, exit_code=exit_code)


def _unexpected(task: CandidateTask, e: Exception) -> str:
    """An exception outside our hierarchy, raised evaluating one candidate: a defect of this tool on that input (our
    readers should have refused it in words). It is that candidate's error, in one line, so a population or an
    analysis reports it and goes on with the others (README); NAS_ANALYZER_DEBUG=1 raises it with its traceback."""
    import os

    if os.environ.get("NAS_ANALYZER_DEBUG"):
        raise e
    said = str(e).strip().splitlines()
    return (f"{task.model_label()}: could not be evaluated: internal error ({type(e).__name__}"
            f"{': ' + echo(said[0], 160) if said else ''}); please report it with this file")
