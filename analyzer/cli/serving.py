"""The options of a decoder served as vLLM-like engines serve it (`--phase serving`), shared by the commands that
take them; what they set is the target's (target/resolve.py), how it is served the projection's."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

MaxConcurrencyOpt = Annotated[Optional[int], typer.Option("--max-concurrency", help="With --phase serving: requests running at once at most (vLLM's max_num_seqs; 1 to 65,536, default 256). Fewer run where the KV cache holds fewer, which the output says.")]
LengthsOpt = Annotated[Optional[str], typer.Option("--lengths", help="With --phase serving: the requests' lengths: a JSON-lines file of {\"prompt_tokens\": P, \"output_tokens\": T} (or [P, T]) per request, or a distribution about --prompt-tokens and --output-tokens: pareto-exp (the default: Pareto prompts, exponential outputs, as the ML.ENERGY benchmark draws them) or fixed.")]
KvDtypeOpt = Annotated[Optional[str], typer.Option("--kv-dtype", help="With --phase serving: the KV cache's dtype: auto (the compute dtype), bf16, fp16 or fp8.")]
TensorParallelOpt = Annotated[Optional[int], typer.Option("--tensor-parallel", help="With --phase serving: GPUs one replica spans (tensor parallel, 1 to 64): heads, MLP and vocabulary split across them, two all-reduces a layer over the hardware's interconnect; energy per token is all of them.")]
MaxBatchedTokensOpt = Annotated[Optional[int], typer.Option("--max-batched-tokens", help="With --phase serving: tokens one step processes at most, decode tokens first, then prompt chunks (vLLM's max_num_batched_tokens; 1 to 1,048,576, default 8192; at least the concurrency, and a mean prompt must prefill within 1,024 steps).")]


def serving_options(max_concurrency: int | None, lengths: str | None, kv_dtype: str | None,
                    max_batched_tokens: int | None, tensor_parallel: int | None = None) -> dict[str, Any]:
    """The serving settings given on the command line, for the resolver (None: not given)."""
    return {"max_concurrency": max_concurrency, "lengths": lengths, "kv_dtype": kv_dtype, "max_batched_tokens": max_batched_tokens,
            "tensor_parallel": tensor_parallel}
