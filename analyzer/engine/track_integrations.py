"""The tracker inside the libraries searches run on: one span per trial, with the trial's parameters.

- Optuna: `study.optimize(objective, callbacks=[OptunaSpans(run)])`. Optuna calls it after each trial with the
  FrozenTrial, whose datetime_start and datetime_complete bound the span (so trials run in threads, n_jobs > 1,
  overlap as they ran). The candidate's identity is the trial's user attribute `arch` where the objective set one,
  else its parameters as `name=value` pairs, sorted.
- Ray Tune: `tune.Tuner(..., run_config=RunConfig(callbacks=[ray_tune_spans(run)]))`. Tune calls it on the driver at
  each trial's start and at its end (complete or error); the span is open in between. Trials run in Ray's worker
  processes, which on a local Ray are in the tracked process tree (Ray's processes are the driver's descendants);
  on a cluster, engine/track_cluster.py reads each node's meters.
Both need the optional extras (`optuna`, `ray`), imported here only when used.
"""

from __future__ import annotations

import time
from typing import Any

from .track import Run


def params_identity(params: dict[str, Any]) -> str:
    return ",".join(f"{k}={params[k]!r}" for k in sorted(params))


class OptunaSpans:
    """An Optuna callback: each finished trial becomes a span of the run, with its parameters, state and value."""

    def __init__(self, run: Run) -> None:
        self.run = run

    def __call__(self, study: Any, trial: Any) -> None:
        start = trial.datetime_start.timestamp() if trial.datetime_start else time.time()
        end = trial.datetime_complete.timestamp() if trial.datetime_complete else time.time()
        value = trial.value if getattr(trial, "values", None) and len(trial.values) == 1 else None
        arch = trial.user_attrs.get("arch") if isinstance(trial.user_attrs.get("arch"), str) else None
        self.run.record_span(f"trial {trial.number}", start, max(end, start), status=trial.state.name.lower(),
                             arch=arch or params_identity(trial.params), study=study.study_name, value=value,
                             **{f"param.{k}": v for k, v in trial.params.items()})


def ray_tune_spans(run: Run) -> Any:
    """A Ray Tune callback (ray.tune.Callback) opening a span at each trial's start and closing it at its end."""
    from ray.tune import Callback

    from ..measure.spans import append_to, new_span_id, open_record

    log = str(run.log_path)  # Tune pickles its callbacks with the experiment's state: it holds the log's path only

    class RayTuneSpans(Callback):
        def __init__(self) -> None:
            self.open: dict[str, str] = {}

        def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            config = {k: v for k, v in (trial.config or {}).items() if isinstance(v, (int, float, str, bool))}
            arch = config.get("arch") if isinstance(config.get("arch"), str) else params_identity(config)
            sid = self.open[trial.trial_id] = new_span_id()
            append_to(log, open_record(sid, f"trial {trial.trial_id}", time.time(), None,
                                       {f"param.{k}": v for k, v in config.items()}, arch, None))

        def _close(self, trial_id: str, status: str) -> None:
            sid = self.open.pop(trial_id, None)
            if sid is not None:
                append_to(log, {"k": "s-", "id": sid, "t": time.time(), "status": status})

        def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            self._close(trial.trial_id, "ok")

        def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            self._close(trial.trial_id, "error")

        def on_experiment_end(self, trials: list, **info: Any) -> None:
            for trial_id in list(self.open):
                self._close(trial_id, "unfinished")

    return RayTuneSpans()
