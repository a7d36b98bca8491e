"""A search population's candidate as a plain, serialisable task (issue #17): in its own module so that the
source reader (load/sources.py) and the IR spaces (load/ir_spaces.py) both build it without importing each other
(issue #36)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CandidateTask:
    """One candidate to evaluate: its identity (what the store keys on) and how to get its model."""

    name: str
    identity: str  # sha256 of the model's bytes, or of the space's choices for a synthetic candidate
    data: bytes | None = None  # the model, for generated candidates
    path: str | None = None  # the model file
    space: tuple[int, int] | None = None  # (seed, index) of a synthetic candidate, built where it is evaluated
    accuracy: float | None = None
    role: str = ""
    arch: dict | None = None
    ir_space: tuple[str, str] | None = None  # (space, choices) of a network built straight into the IR: ("nb201", arch string)

    def model_label(self) -> str:
        """How errors name the candidate: its file, or its name when it has none."""
        return self.path if self.path is not None else self.name
