"""Engine: the one chain from a candidate to its footprint. `evaluate(candidates, target, *, executor, store)`
profiles each candidate (count), projects it on the target's hardware (project) and accounts its energy at the
target's site (account), into `Evaluation` records (evaluate.py, the chain; run.py, many candidates with the
results store); executors.py runs the same pure task in this process, on a process pool or on Ray. Populations
(population.py), measurement fleets (fleet.py) and the results store (store.py) live here too."""

from .chain import evaluate_one, params_for, target_inputs
from .executors import InlineExecutor, LocalExecutor, RayExecutor, evaluate_chunk
from .run import Result, engine_key, evaluate, iter_evaluate

__all__ = ["evaluate_one", "params_for", "target_inputs", "InlineExecutor", "LocalExecutor", "RayExecutor", "evaluate_chunk",
           "Result", "engine_key", "evaluate", "iter_evaluate"]
