"""ONNX Runtime sessions: the only module that imports onnxruntime."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..errors import RuntimeFailure, UsageError

PROVIDER_ALIASES = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider", "tensorrt": "TensorrtExecutionProvider",
                    "rocm": "ROCMExecutionProvider", "migraphx": "MIGraphXExecutionProvider", "openvino": "OpenVINOExecutionProvider",
                    "dml": "DmlExecutionProvider", "coreml": "CoreMLExecutionProvider", "qnn": "QNNExecutionProvider"}
OPT_LEVELS = ("disable", "basic", "extended", "all")


def _first_line(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return text[0][:300] if text else type(e).__name__


def resolve_provider(name: str) -> str:
    import onnxruntime as ort

    full = PROVIDER_ALIASES.get(name.lower(), name)
    available = ort.get_available_providers()
    if full not in available:
        short = [k for k, v in PROVIDER_ALIASES.items() if v in available]
        raise UsageError(f"provider '{name}' is not available in this onnxruntime build; available: "
                         f"{', '.join(short or available)}")
    return full


def runtime_version() -> str:
    import onnxruntime as ort

    return ort.__version__


def create_session(path: Path, provider: str, threads: int | None, opt_level: str, model_bytes: bytes | None = None):
    """Returns (session, creation seconds). model_bytes, when given, replace the file's content."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = {"disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
                                   "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
                                   "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
                                   "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}[opt_level]
    if threads is not None:
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
    so.log_severity_level = 3
    t0 = time.perf_counter()
    try:
        sess = ort.InferenceSession(model_bytes if model_bytes is not None else str(path), so, providers=[provider])
    except Exception as e:  # noqa: BLE001 - ORT raises its own unexported exception types
        raise RuntimeFailure(f"{path}: onnxruntime cannot load the model: {_first_line(e)}") from None
    return sess, time.perf_counter() - t0


def make_runner(sess, feeds: dict[str, np.ndarray]):
    """A zero-argument callable running one inference; checks once that the feeds fit."""
    try:
        sess.run(None, feeds)
    except Exception as e:  # noqa: BLE001
        raise RuntimeFailure(f"onnxruntime cannot run the model on these inputs: {_first_line(e)}") from None
    return lambda: sess.run(None, feeds)
