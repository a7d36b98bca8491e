"""The synthetic MobileNet-like space's choices (load/space.py builds the networks): the choice tables and a
candidate's draw as a pure function of (seed, index), in plain Python. Apart from the builder so that drawing a
population (a repeated run answers every candidate from the store) imports neither onnx nor numpy, as
nb201_arch.py is apart from nb201.py."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

WIDTHS = (0.75, 1.0, 1.25)
KERNELS = (3, 5, 7)
EXPANSIONS = (3, 4, 6)
# (base channels, first block's stride, depth choices) per stage, as MobileNetV2's table 2
STAGES = ((16, 1, (1,)), (24, 2, (2, 3, 4)), (32, 2, (2, 3, 4)), (64, 2, (2, 3, 4)), (96, 1, (2, 3, 4)),
          (160, 2, (2, 3, 4)), (320, 1, (1,)))
STEM, HEAD, CLASSES, RESOLUTION = 32, 1280, 1000, 224
ARCH_KEY = "nas_analyzer.arch"


@dataclass(frozen=True)
class Arch:
    """One candidate's choices: plain data, serialisable as JSON."""

    width: float
    depths: tuple[int, ...]
    kernels: tuple[tuple[int, ...], ...]
    expansions: tuple[tuple[int, ...], ...]

    def name(self, index: int) -> str:
        return f"cand{index:06d}"

    def to_dict(self) -> dict:
        """asdict's result (the tuples are immutable: no copy needed), without its recursion, which was half of a
        repeated population's time with --out."""
        return {"width": self.width, "depths": self.depths, "kernels": self.kernels, "expansions": self.expansions}


def sample(seed: int, index: int) -> Arch:
    """Candidate `index` of the population drawn with `seed` (uniform over the choices)."""
    bits = random.Random(f"{seed}:{index}").getrandbits

    def choice(seq: tuple) -> Any:
        """random.Random.choice's draw, inlined (its two calls a draw were a third of a repeated population): the
        fewest bits that cover the choices, drawn again while out of range (tests/engine/test_memo.py checks the two agree)."""
        n = len(seq)
        k = n.bit_length()
        r = bits(k)
        while r >= n:
            r = bits(k)
        return seq[r]

    depths = tuple(choice(choices) for _, _, choices in STAGES)
    kernels = tuple(tuple(choice(KERNELS) for _ in range(d)) for d in depths)
    expansions = tuple(tuple(1 if s == 0 else choice(EXPANSIONS) for _ in range(d)) for s, d in enumerate(depths))
    return Arch(choice(WIDTHS), depths, kernels, expansions)


def full(width: float = 1.0) -> Arch:
    """The space's full network at `width`: every stage at its deepest, every block with the largest kernel and
    expansion (the first stage's single block keeps expansion 1), as a weight-sharing search's supernet holds them
    (Once-for-All trains its space's full network first: Cai et al., ICLR 2020, Sec. 3.3)."""
    depths = tuple(max(choices) for _, _, choices in STAGES)
    return Arch(width, depths, tuple((max(KERNELS),) * d for d in depths),
                tuple(((1,) if s == 0 else (max(EXPANSIONS),)) * d for s, d in enumerate(depths)))


def _channels(base: int, width: float) -> int:
    """MobileNet's rounding: a multiple of 8, never below 90% of the scaled width."""
    scaled = base * width
    c = max(8, int(scaled + 4) // 8 * 8)
    return c + 8 if c < 0.9 * scaled else c
