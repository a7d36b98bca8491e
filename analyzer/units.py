"""Exact unit constants and ONNX element sizes, in one place (never rounded literals elsewhere)."""

FLOPS_PER_MAC = 2  # one multiply-accumulate is one multiply plus one add
BYTES_PER_GIB = 1024**3
J_PER_KWH = 3_600_000
W_PER_KW = 1000
G_PER_KG = 1000
KG_PER_LB = 0.45359237  # exact, international avoirdupois pound
HOURS_PER_DAY = 24
SECONDS_PER_HOUR = 3600
MS_PER_S = 1000
DAYS_PER_YEAR = 365.25  # the Julian year: lifetimes, horizons and growth rates are quoted in calendar years
HOURS_PER_YEAR = HOURS_PER_DAY * DAYS_PER_YEAR  # 8766
MAX_BATCH = 1 << 20  # work and memory grow with the batch; beyond a million items one forward is no serving scenario
MAX_DIM = 1 << 31  # a bound input dim
# one tensor's elements: beyond 2**53 a count is no longer exact as a JSON number, and no machine holds such a tensor
MAX_ELEMENTS = 1 << 53

# ONNX TensorProto.DataType -> (name, bytes per element). Sub-byte types round up to 1 byte per element
# in byte counts; this is said in the README.
ONNX_DTYPES: dict[int, tuple[str, float]] = {
    1: ("float32", 4),
    2: ("uint8", 1),
    3: ("int8", 1),
    4: ("uint16", 2),
    5: ("int16", 2),
    6: ("int32", 4),
    7: ("int64", 8),
    8: ("string", 0),
    9: ("bool", 1),
    10: ("float16", 2),
    11: ("float64", 8),
    12: ("uint32", 4),
    13: ("uint64", 8),
    14: ("complex64", 8),
    15: ("complex128", 16),
    16: ("bfloat16", 2),
    17: ("float8e4m3fn", 1),
    18: ("float8e4m3fnuz", 1),
    19: ("float8e5m2", 1),
    20: ("float8e5m2fnuz", 1),
    21: ("uint4", 0.5),
    22: ("int4", 0.5),
    23: ("float4e2m1", 0.5),
    24: ("float8e8m0", 1),
    25: ("uint2", 0.25),
    26: ("int2", 0.25),
}

# A compute dtype's bytes per element on the target. Profiles count bytes at the exported model's element size
# (fp32, FP32_BYTES); a projection scales them by DTYPE_BYTES[dtype] / FP32_BYTES.
FP32_BYTES = 4
DTYPE_BYTES = {"fp64": 8, "fp32": 4, "tf32": 4, "fp16": 2, "bf16": 2, "fp8": 1, "int8": 1, "int4": 0.5}


def bytes_scale(dtype: str) -> float:
    """Bytes of a tensor held in `dtype` relative to the profiled fp32 tensor."""
    return DTYPE_BYTES[dtype] / FP32_BYTES


FLOAT_DTYPES = frozenset(
    {"float32", "float16", "float64", "bfloat16", "float8e4m3fn", "float8e4m3fnuz", "float8e5m2",
     "float8e5m2fnuz", "float4e2m1", "float8e8m0"}
)


def dtype_name(onnx_type: int) -> str:
    return ONNX_DTYPES.get(onnx_type, (f"onnx_type_{onnx_type}", 0))[0]


def dtype_itemsize(onnx_type: int) -> float:
    return ONNX_DTYPES.get(onnx_type, ("", 0))[1]
