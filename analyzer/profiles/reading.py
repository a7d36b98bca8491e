"""Where the shipped profiles are and how a profile file is read (size-capped TOML, a ProfileError naming the
file): in its own module so that the profile loader and the family and estimate tables, which the loader applies,
read files without importing each other (issue #36)."""

from __future__ import annotations

from pathlib import Path

from ..errors import ProfileError
from ..files import read_toml
from ..paths import shipped_profiles

SHIPPED = shipped_profiles()
MAX_PROFILE_BYTES = 4 * 1024 * 1024  # a calibrated profile with its fitted forwards is about 100 kB


def _read(file: Path) -> dict:
    return read_toml(file, ProfileError, MAX_PROFILE_BYTES)
