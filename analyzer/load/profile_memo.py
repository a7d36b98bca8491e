"""Static profiles remembered across processes: a profile of an unchanged file, with the same options, by the same
code, is read back without importing onnx or numpy (a one-node `profile` then starts and answers in the time the
interpreter and the CLI take). Keyed as hash_cache.py keys files (path, size, mtime_ns, ctime_ns, inode), for the
model and every external-data file it read, with the options and a fingerprint of the package's source; one small
JSON file per entry in the user's cache, written atomically. A missing, corrupt or unwritable entry only costs a
fresh profile."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from ..paths import cache_dir
from .hash_cache import stat_key

_CODE: list[str] = []


def code_fingerprint() -> str:
    """The package's source files by name, size and modification time: a profile computed by other code is not read."""
    if not _CODE:
        h = hashlib.sha256()
        root = Path(__file__).resolve().parent.parent
        for d, dirs, files in sorted(os.walk(root)):
            dirs.sort()
            for f in sorted(files):
                if f.endswith(".py"):
                    st = os.stat(os.path.join(d, f))
                    h.update(f"{os.path.relpath(os.path.join(d, f), root)}|{st.st_size}|{st.st_mtime_ns}".encode())
        _CODE.append(h.hexdigest()[:16])
    return _CODE[0]


def _entry(path: Path, options: dict[str, Any]) -> Path | None:
    try:
        key = json.dumps([stat_key([path]), options, code_fingerprint()], sort_keys=True, default=str)
    except OSError:
        return None
    return cache_dir() / "profiles" / (hashlib.sha256(key.encode()).hexdigest()[:32] + ".json")


def lookup(path: Path, options: dict[str, Any]) -> dict[str, Any] | None:
    """The remembered profile (ModelProfile.to_dict()) of `path` with `options`, if the model and the external-data
    files it read are unchanged; else None."""
    entry = _entry(path, options)
    if entry is None:
        return None
    try:
        data = json.loads(entry.read_text())
        deps = [Path(p) for p in data["deps"]]
        if deps and stat_key(deps) != data["deps_key"]:
            return None
        return data["profile"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def remember(path: Path, options: dict[str, Any], profile: dict[str, Any], deps: list[Path]) -> None:
    entry = _entry(path, options)
    if entry is None:
        return
    try:
        deps_key = stat_key(deps) if deps else ""
        entry.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=entry.parent, prefix=".profile-", suffix=".json")
        with os.fdopen(fd, "w") as f:
            json.dump({"profile": profile, "deps": [str(p) for p in deps], "deps_key": deps_key}, f)
        os.replace(tmp, entry)
    except (OSError, ValueError, TypeError):
        pass  # a read-only home: profiling again next time is the only cost
