"""sha256 of model files (and their weights' sparsity), remembered by (path, size, mtime_ns, ctime_ns, inode)
as git's index does, so an unchanged multi-GB file is hashed and scanned once (files under 4 MB are simply
hashed: remembering them would cost more). The cache is a small JSON file in the user's cache folder,
replaced atomically; a corrupt or unwritable cache only costs a re-hash."""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING
from ..paths import cache_dir

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

MAX_ENTRIES = 4096


def cache_path(name: str = "sha256") -> Path:
    return cache_dir() / f"{name}-cache.json"


def _key(path: Path) -> str:
    st = path.stat()
    return f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{st.st_ctime_ns}|{st.st_ino}"


_memo: dict[str, tuple[int, dict[str, str]]] = {}  # cache file -> (mtime_ns, entries): one parse per change


def _load(p: Path) -> dict[str, str]:
    try:
        mtime = p.stat().st_mtime_ns
        memo = _memo.get(str(p))
        if memo is not None and memo[0] == mtime:
            return memo[1]
        data = json.loads(p.read_text())
        data = data if isinstance(data, dict) else {}
        _memo[str(p)] = (mtime, data)
        return data
    except (OSError, ValueError):
        return {}


def lookup(path: Path) -> str | None:
    try:
        return _load(cache_path()).get(_key(path))
    except OSError:
        return None


def stat_key(paths: list[Path]) -> str:
    """One key for a model and the external-data files it reads: changes when any of them changes."""
    return "||".join(_key(p) for p in paths)


def lookup_value(name: str, key: str):
    return _load(cache_path(name)).get(key)


def remember_value(name: str, key: str, value) -> None:
    _store(cache_path(name), key, value)


def remember(path: Path, digest: str) -> None:
    try:
        _store(cache_path(), _key(path), digest)
    except OSError:
        pass


_store_lock = threading.Lock()  # models profiled on two threads (cli/profile_cmd.py) add entries to one file


def _store(p: Path, key: str, value) -> None:
    with _store_lock:
        _store_locked(p, key, value)


def _store_locked(p: Path, key: str, value) -> None:
    try:
        entries = dict(_load(p))
        entries[key] = value
        if len(entries) > MAX_ENTRIES:  # keep the newest half
            entries = dict(list(entries.items())[-MAX_ENTRIES // 2 :])
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.stem}-", suffix=".json")
        with os.fdopen(fd, "w") as f:
            json.dump(entries, f)
        os.replace(tmp, p)
    except OSError:
        pass  # a read-only home: hashing again next time is the only cost


def file_sha256(path: Path) -> str:
    """The file's sha256, from the cache when its stat is unchanged, else hashed (1 MiB reads) and remembered."""
    import hashlib

    try:
        small = path.stat().st_size < INLINE_HASH_BYTES
    except OSError:
        small = False  # open() below says what is wrong
    from ..errors import UsageError
    from ..files import open_regular

    if small:  # hashing it costs less than reading and rewriting the cache (a population has thousands)
        with open_regular(path, UsageError) as f:
            return hashlib.sha256(f.read()).hexdigest()
    cached = lookup(path)
    if cached is not None:
        return cached
    h = hashlib.sha256()
    try:
        with open_regular(path, UsageError) as f:  # a FIFO or a device would block or never end: refused
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except OSError as e:
        raise UsageError(f"{path}: cannot read ({e.strerror})") from None
    digest = h.hexdigest()
    remember(path, digest)
    return digest


INLINE_HASH_BYTES = 4 << 20  # below this a thread costs more than hashing the file in line (~3 ms at 1.5 GB/s)


class Inline:
    """ThreadPoolExecutor's submit/result, run in line: for files too small to be worth a thread."""

    def __enter__(self) -> "Inline":
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def submit(self, fn, *args):  # noqa: ANN001, ANN201
        from concurrent.futures import Future

        f: Future = Future()
        try:
            f.set_result(fn(*args))
        except BaseException as e:  # noqa: BLE001 - raised where result() is called, as from a thread
            f.set_exception(e)
        return f


def hashing_pool(nbytes: int) -> "Inline | ThreadPoolExecutor":
    """Where to hash `nbytes` while the graph is analysed: a thread for a large file (hashlib releases the
    GIL), in line for a small one."""
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(1) if nbytes >= INLINE_HASH_BYTES else Inline()
