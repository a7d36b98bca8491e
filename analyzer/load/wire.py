"""A protobuf wire-format pass over a memory-mapped .onnx file that drops the bytes of large inline
weights (TensorProto.raw_data) before protobuf parsing, recording where they lie instead.

Why: parsing a 500 MB model copies every weight into Python objects, while counting work needs only the
graph. With this pass the profiler parses a few hundred KB and touches the weights' pages only in the
sparsity scan. Field numbers are those of onnx.proto (ModelProto.graph = 7, GraphProto.initializer = 5,
TensorProto.name = 8, raw_data = 9).
"""

from __future__ import annotations

from typing import Iterator

from ..errors import WireError

MODEL_GRAPH, GRAPH_INITIALIZER, TENSOR_NAME, TENSOR_RAW_DATA = 7, 5, 8, 9
VARINT, I64, LEN, I32 = 0, 1, 2, 5


def _varint(buf, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end:
            raise WireError("truncated (a field runs past the end of the file)")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise WireError("corrupt varint")


def _encode_varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def fields(buf, start: int, end: int) -> Iterator[tuple[int, int, int, int, int]]:
    """Yield (field number, wire type, field start, value start, value end) for a message's fields."""
    pos = start
    while pos < end:
        field_start = pos
        key, pos = _varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise WireError("corrupt field key")
        if wire == VARINT:
            _, vend = _varint(buf, pos, end)
            yield number, wire, field_start, pos, vend
            pos = vend
        elif wire == LEN:
            length, vstart = _varint(buf, pos, end)
            vend = vstart + length
            if vend > end:
                raise WireError("truncated (a field runs past the end of the file)")
            yield number, wire, field_start, vstart, vend
            pos = vend
        elif wire in (I64, I32):
            vend = pos + (8 if wire == I64 else 4)
            if vend > end:
                raise WireError("truncated (a field runs past the end of the file)")
            yield number, wire, field_start, pos, vend
            pos = vend
        else:
            raise WireError(f"unsupported wire type {wire}")


def _light_tensor(buf, start: int, end: int, strip_bytes: int) -> tuple[bytes, tuple[str, int, int] | None]:
    name = ""
    raw: tuple[int, int] | None = None
    for number, wire, _, vs, ve in fields(buf, start, end):
        if number == TENSOR_NAME and wire == LEN:
            name = bytes(buf[vs:ve]).decode("utf-8", errors="replace")
        elif number == TENSOR_RAW_DATA and wire == LEN:
            raw = (vs, ve)
    if raw is None or raw[1] - raw[0] <= strip_bytes:
        return bytes(buf[start:end]), None
    out = bytearray()
    for number, wire, fs, _, ve in fields(buf, start, end):
        if not (number == TENSOR_RAW_DATA and wire == LEN):
            out += buf[fs:ve]
    return bytes(out), (name, raw[0], raw[1] - raw[0])


def _length_delimited(number: int, payload: bytes) -> bytes:
    return _encode_varint(number << 3 | LEN) + _encode_varint(len(payload)) + payload


def strip_weights(buf, strip_bytes: int) -> tuple[bytes, dict[str, tuple[int, int]]]:
    """Return the model's bytes without raw_data of initializers larger than strip_bytes, and for each
    stripped initializer its (offset, length) in buf."""
    out = bytearray()
    refs: dict[str, tuple[int, int]] = {}
    if len(buf) <= strip_bytes:  # nothing in it can be larger (a malformed file fails to parse next)
        return bytes(buf), refs
    for number, wire, fs, vs, ve in fields(buf, 0, len(buf)):
        if number == MODEL_GRAPH and wire == LEN:
            graph = bytearray()
            for g_number, g_wire, g_fs, g_vs, g_ve in fields(buf, vs, ve):
                if g_number == GRAPH_INITIALIZER and g_wire == LEN and g_ve - g_vs > strip_bytes:
                    tensor, ref = _light_tensor(buf, g_vs, g_ve, strip_bytes)
                    graph += _length_delimited(GRAPH_INITIALIZER, tensor)
                    if ref is not None:
                        refs[ref[0]] = (ref[1], ref[2])
                else:
                    graph += buf[g_fs:g_ve]
            out += _length_delimited(MODEL_GRAPH, bytes(graph))
        else:
            out += buf[fs:ve]
    return bytes(out), refs
