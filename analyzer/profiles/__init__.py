"""Data: the profiles/ folder's TOML (hardware, datacenters, regions, published searches, the projection's
category defaults and the stated defaults) validated once into frozen records whose every number carries its
provenance (schema.py, parse.py, loader.py), and the one writer of profile files (writer.py)."""

from .loader import SHIPPED, Default, ProfileSet, defaults, load_profiles, projection_defaults, suggest
from .parse import (CATEGORIES, DEFAULT_ONLY_KEYS, HW_SCALAR_KEYS, OPTIONAL_PROJECTION_KEYS, PROJECTION_KEYS, TRAINING_KEYS,
                    parse_hardware)
from .schema import (DEFAULT_DTYPE_ORDER, KINDS, DatacenterProfile, HardwareProfile, NasPreset, RegionProfile, RegionYear,
                     Sourced, default_dtype)

__all__ = ["SHIPPED", "Default", "ProfileSet", "defaults", "load_profiles", "projection_defaults", "suggest", "CATEGORIES",
           "DEFAULT_ONLY_KEYS", "HW_SCALAR_KEYS", "OPTIONAL_PROJECTION_KEYS", "PROJECTION_KEYS", "TRAINING_KEYS",
           "parse_hardware", "DEFAULT_DTYPE_ORDER", "KINDS", "DatacenterProfile", "HardwareProfile", "NasPreset", "RegionProfile",
           "RegionYear", "Sourced", "default_dtype"]
