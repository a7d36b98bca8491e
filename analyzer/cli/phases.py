"""--phase, --prompt-tokens, --output-tokens: generation with a KV cache for `profile` and `project`."""

from __future__ import annotations

from ..errors import UsageError

DEFAULT_PROMPT_TOKENS = 128


def phase_args(phase: str | None, prompt_tokens: int | None, output_tokens: int | None) -> tuple[str | None, int, int | None, list[str]]:
    """(phase, prompt tokens, output tokens, notes) after validation; notes say which defaults were taken."""
    from ..project.generation import PHASES, check_lengths

    if phase is None:
        if prompt_tokens is not None or output_tokens is not None:
            raise UsageError("--prompt-tokens and --output-tokens need --phase prefill or --phase decode")
        return None, 0, None, []
    if phase not in PHASES:
        raise UsageError(f"--phase '{phase}': expected prefill or decode")
    notes = []
    if prompt_tokens is None:
        prompt_tokens = DEFAULT_PROMPT_TOKENS
        notes.append(f"no --prompt-tokens given: assumed {DEFAULT_PROMPT_TOKENS}")
    if phase == "prefill" and output_tokens is not None:
        raise UsageError("--output-tokens prices a response: use it with --phase decode")
    check_lengths(prompt_tokens, output_tokens or 1)
    return phase, prompt_tokens, output_tokens, notes
