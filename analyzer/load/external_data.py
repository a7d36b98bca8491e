"""External weight data: where it lives, refusing locations that escape the model's folder."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import ExternalDataError


@dataclass(frozen=True, slots=True)
class ExternalRef:
    path: Path
    offset: int
    length: int | None  # None: to the end of the file


def resolve(model_dir: Path, tensor_name: str, entries: dict[str, str], model_file: Path | None = None,
            located: dict[str, tuple[Path, int]] | None = None) -> ExternalRef:
    """Resolve one tensor's external_data entries, refusing absolute paths, '..' and symlinks that leave
    the model's folder, the model file itself, names no filesystem takes, missing files, and ranges beyond
    the end of the file. `located` (a dict kept for one model's load) remembers each location's checked file and
    size: an export's hundreds of tensors in one file resolve its path once, each range still checked."""
    try:
        return _resolve(model_dir, tensor_name, entries, model_file, located if located is not None else {})
    except (OSError, ValueError) as e:  # a name too long, a NUL byte, a file that vanished
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise ExternalDataError(f"tensor '{tensor_name}': external data location {entries.get('location', '')[:80]!r} "
                                f"cannot be used ({reason})") from None


def _resolve(model_dir: Path, tensor_name: str, entries: dict[str, str], model_file: Path | None,
             located: dict[str, tuple[Path, int]]) -> ExternalRef:
    location = entries.get("location", "")
    if not location:
        raise ExternalDataError(f"tensor '{tensor_name}': external data has no location")
    hit = located.get(location)
    target, size = hit if hit is not None else _locate(model_dir, tensor_name, location, model_file)
    located[location] = (target, size)
    try:
        offset = int(entries.get("offset", 0))
        length = int(entries["length"]) if "length" in entries else None
    except ValueError as e:
        raise ExternalDataError(f"tensor '{tensor_name}': bad external data offset/length ({e})") from None
    end = offset + (length or 0)
    if offset < 0 or (length is not None and length < 0) or end > size:
        raise ExternalDataError(
            f"tensor '{tensor_name}': external data '{location}' is truncated: needs bytes {offset}..{end}, file has {size}")
    return ExternalRef(target, offset, length)


def _locate(model_dir: Path, tensor_name: str, location: str, model_file: Path | None) -> tuple[Path, int]:
    """The file a location names, checked (see resolve), and its size."""
    if os.path.isabs(location) or location.startswith(("/", "\\")) or ":" in location[:3]:
        raise ExternalDataError(f"tensor '{tensor_name}': external data location '{location}' is absolute; refused")
    if ".." in Path(location.replace("\\", "/")).parts:
        raise ExternalDataError(f"tensor '{tensor_name}': external data location '{location}' escapes the model folder; refused")
    root = model_dir.resolve()
    target = (model_dir / location).resolve()
    if root != target and root not in target.parents:
        raise ExternalDataError(f"tensor '{tensor_name}': external data '{location}' resolves outside the model folder (symlink?); refused")
    if not target.is_file():
        raise ExternalDataError(f"tensor '{tensor_name}': external data file '{location}' is missing")
    if model_file is not None and target == model_file.resolve():
        raise ExternalDataError(f"tensor '{tensor_name}': external data '{location}' is the model file itself; refused")
    return target, target.stat().st_size


MAP_MIN_BYTES = 1 << 20  # a smaller range is read plainly: mapping it costs more than copying it, and risks more


def iter_mapped_range(ref: ExternalRef, chunk_bytes: int, unit_bytes: int, map_min_bytes: int = MAP_MIN_BYTES):
    """iter_file_range without the copy: the range memory-mapped (read-only) and yielded in the same chunks, each
    chunk's pages released from this process once the caller has moved past it (MADV_DONTNEED), so resident memory
    stays at about one chunk. Falls back to reading where the file cannot be mapped, and reads a range under
    `map_min_bytes` plainly.

    A mapped file that another process truncates makes reading the lost pages a SIGBUS, which ends the process
    (Python cannot catch it): so the file's size is checked against the range before mapping and again before each
    chunk is handed out (ExternalDataError naming the file), leaving only a truncation during one chunk's scan."""
    import mmap

    total = ref.length if ref.length is not None else ref.path.stat().st_size - ref.offset
    if total < map_min_bytes or not hasattr(mmap, "MADV_DONTNEED"):
        yield from iter_file_range(ref, chunk_bytes, unit_bytes)
        return
    step = max(unit_bytes, (chunk_bytes // unit_bytes) * unit_bytes) if unit_bytes else chunk_bytes
    start = ref.offset - ref.offset % mmap.ALLOCATIONGRANULARITY
    lead = ref.offset - start
    f = open(ref.path, "rb")
    try:
        _check_size(f, ref, ref.offset + total)
        try:
            m = mmap.mmap(f.fileno(), lead + total, access=mmap.ACCESS_READ, offset=start)
        except (OSError, ValueError):
            f.close()
            yield from iter_file_range(ref, chunk_bytes, unit_bytes)
            return
        view = memoryview(m)
        try:
            page = mmap.PAGESIZE
            for pos in range(lead, lead + total, step):
                end = min(pos + step, lead + total)
                _check_size(f, ref, start + end)
                yield view[pos:end]
                lo, hi = pos - pos % page, end - end % page
                if hi > lo:
                    m.madvise(mmap.MADV_DONTNEED, lo, hi - lo)
        finally:
            try:
                view.release()
                m.close()
            except BufferError:  # a caller still holds a chunk: the mapping goes when the last one does
                pass
    finally:
        f.close()


def _check_size(f, ref: ExternalRef, end: int) -> None:
    size = os.fstat(f.fileno()).st_size
    if size < end:
        raise ExternalDataError(f"external data '{ref.path.name}' is truncated: needs bytes up to {end}, the file now has "
                                f"{size} (changed while it was read?)")


def iter_file_range(ref: ExternalRef, chunk_bytes: int, unit_bytes: int):
    """Yield the range in chunks that are whole multiples of unit_bytes, through one reused buffer so
    that resident memory stays at one chunk whatever the tensor's size."""
    total = ref.length if ref.length is not None else ref.path.stat().st_size - ref.offset
    step = max(unit_bytes, (chunk_bytes // unit_bytes) * unit_bytes) if unit_bytes else chunk_bytes
    buf = bytearray(min(step, total))
    view = memoryview(buf)
    with open(ref.path, "rb", buffering=0) as f:
        f.seek(ref.offset)
        left = total
        while left > 0:
            want = min(step, left)
            got = f.readinto(view[:want])
            if not got:
                raise ExternalDataError(f"external data '{ref.path.name}' ended early")
            while got < want:  # short reads happen on pipes and network filesystems
                more = f.readinto(view[got:want])
                if not more:
                    raise ExternalDataError(f"external data '{ref.path.name}' ended early")
                got += more
            yield view[:want]
            left -= want
