"""Engine: the one chain from a candidate to its footprint. `evaluate(candidates, target, *, executor, store)`
profiles each candidate (count), projects it on the target's hardware (project) and accounts its energy at the
target's site (account), into `Evaluation` records (evaluate.py, the chain; run.py, many candidates with the
results store); executors.py runs the same pure task in this process, on a process pool or on Ray. Populations
(population.py), measurement fleets (fleet.py) and the results store (store.py) live here too."""

import importlib
from typing import Any

# name -> its module, imported on first use: `analyzer.engine.store` (the results store, which every command that
# records its run opens) must not import the chain and with it numpy, onnx and the projection (0.4 s)
_LAZY = {"evaluate_one": "chain", "params_for": "chain", "target_inputs": "chain", "InlineExecutor": "executors",
         "LocalExecutor": "executors", "RayExecutor": "executors", "evaluate_chunk": "executors", "Result": "run",
         "engine_key": "run", "evaluate": "run", "iter_evaluate": "run"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["evaluate_one", "params_for", "target_inputs", "InlineExecutor", "LocalExecutor", "RayExecutor", "evaluate_chunk",
           "Result", "engine_key", "evaluate", "iter_evaluate"]
