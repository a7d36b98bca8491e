"""The results store: an embedded SQLite database of static profiles, measurements, calibrations and
projections, keyed by model content hash, settings, profile versions and tool version, so unchanged inputs
are not recomputed and past runs can be listed and exported.

Writes are transactions in WAL mode: a run killed mid-write leaves the earlier rows readable; concurrent
runs serialise on SQLite's lock (busy timeout). A store written by a newer schema is refused; an older one
is migrated. A corrupt or unwritable store is reported and the run goes on without it; the file is never
deleted or overwritten.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from .. import __version__
from ..errors import StoreError, param
from ..paths import cache_dir

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS results (
    kind TEXT NOT NULL, key TEXT NOT NULL, model TEXT, model_sha256 TEXT, settings TEXT NOT NULL,
    tool_version TEXT NOT NULL, profiles_version TEXT NOT NULL, created_at REAL NOT NULL, payload TEXT NOT NULL,
    PRIMARY KEY (kind, key));
CREATE INDEX IF NOT EXISTS results_by_model ON results (model_sha256);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, created_at REAL NOT NULL, command TEXT NOT NULL, args TEXT NOT NULL,
    summary TEXT NOT NULL);
"""


def default_path() -> Path:
    return cache_dir() / "results.sqlite"


def profiles_version(root: Path) -> str:
    """A fingerprint of the profile files in use: names, sizes and modification times."""
    h = hashlib.sha256()
    for f in sorted(root.rglob("*.toml")):
        st = f.stat()
        h.update(f"{f.relative_to(root)}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def file_digest(path: Path) -> str:
    """sha256 (16 hex digits) of a small file's bytes; '' if it cannot be read."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    except OSError:
        return ""


_CODE_VERSION: list[str] = []


def code_version() -> str:
    """A digest of the package's source: results computed by other code are not read back."""
    if not _CODE_VERSION:
        h = hashlib.sha256(__version__.encode())
        root = Path(__file__).resolve().parent
        for f in sorted(root.rglob("*.py")):
            try:
                h.update(f.read_bytes())
            except OSError:
                pass
        _CODE_VERSION.append(h.hexdigest()[:16])
    return _CODE_VERSION[0]


def result_key(kind: str, model_sha256: str, settings: dict[str, Any], profiles_ver: str) -> str:
    blob = json.dumps([kind, model_sha256, settings, profiles_ver, __version__], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass
class Store:
    path: Path
    conn: sqlite3.Connection

    @classmethod
    def open(cls, path: Path) -> "Store":
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(path), timeout=30.0, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            version = cls._version(conn)
            if version > SCHEMA_VERSION:
                conn.close()
                raise StoreError(f"store {path} has schema v{version}, newer than this tool's v{SCHEMA_VERSION}; "
                                 f"upgrade nas-analyzer or use {param('store')} PATH / {param('no_store')}")
            conn.execute("BEGIN IMMEDIATE")
            for stmt in filter(None, (s.strip() for s in _SCHEMA.split(";"))):
                conn.execute(stmt)
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            conn.execute("COMMIT")
        except sqlite3.DatabaseError as e:
            raise StoreError(f"store {path} is not usable ({e}); it was left untouched; use {param('store')} PATH or {param('no_store')}") from None
        except OSError as e:
            raise StoreError(f"store {path} cannot be opened ({e.strerror}); use {param('store')} PATH or {param('no_store')}") from None
        return cls(path, conn)

    @classmethod
    def open_readonly(cls, path: Path) -> "Store":
        """For listing and export: never writes, so a read-only store (or folder) works."""
        if not path.is_file():
            raise StoreError(f"no results store at {path}; run analyze or project first, or give {param('store')} PATH")
        try:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30.0, isolation_level=None)
            version = cls._version(conn)
        except sqlite3.DatabaseError as e:
            raise StoreError(f"store {path} is not usable ({e}); it was left untouched") from None
        if version > SCHEMA_VERSION:
            conn.close()
            raise StoreError(f"store {path} has schema v{version}, newer than this tool's v{SCHEMA_VERSION}; upgrade nas-analyzer")
        return cls(path, conn)

    @staticmethod
    def _version(conn: sqlite3.Connection) -> int:
        has_meta = conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'").fetchone()
        if not has_meta:
            return 0
        row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        return int(row[0]) if row else 0

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        try:
            row = self.conn.execute("SELECT payload FROM results WHERE kind=? AND key=?", (kind, key)).fetchone()
        except sqlite3.DatabaseError as e:
            raise StoreError(f"store {self.path}: read failed ({e})") from None
        return json.loads(row[0]) if row else None

    def get_many(self, kind: str, keys: dict[str, Any]) -> dict[Any, dict[str, Any]]:
        """{what each found key stands for: payload} for the keys the store holds, in queries of 500."""
        out: dict[Any, dict[str, Any]] = {}
        items = list(keys.items())
        try:
            for i in range(0, len(items), 500):
                part = dict(items[i:i + 500])
                marks = ",".join("?" * len(part))
                for key, payload in self.conn.execute(f"SELECT key, payload FROM results WHERE kind=? AND key IN ({marks})",
                                                      (kind, *part)):
                    out[part[key]] = json.loads(payload)
        except sqlite3.DatabaseError as e:
            raise StoreError(f"store {self.path}: read failed ({e})") from None
        return out

    def put(self, kind: str, key: str, model: str, model_sha256: str, settings: dict[str, Any], profiles_ver: str,
            payload: dict[str, Any]) -> None:
        self.put_many([(kind, key, model, model_sha256, settings, profiles_ver, payload)])

    def put_many(self, rows: list[tuple]) -> None:
        """One transaction for all rows: either every row lands or none does."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            for kind, key, model, sha, settings, pver, payload in rows:
                self.conn.execute("INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                  (kind, key, model, sha, json.dumps(settings, sort_keys=True, default=str), __version__, pver,
                                   time.time(), json.dumps(payload, default=str)))
            self.conn.execute("COMMIT")
        except sqlite3.DatabaseError as e:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise StoreError(f"store {self.path}: write failed ({e})") from None

    def log_run(self, command: str, args: dict[str, Any], summary: dict[str, Any]) -> None:
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute("INSERT INTO runs (created_at, command, args, summary) VALUES (?, ?, ?, ?)",
                              (time.time(), command, json.dumps(args, default=str), json.dumps(summary, default=str)))
            self.conn.execute("COMMIT")
        except sqlite3.DatabaseError as e:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise StoreError(f"store {self.path}: write failed ({e})") from None

    def runs(self, limit: int | None = 50) -> list[dict[str, Any]]:
        """The newest `limit` runs (all with None), newest first."""
        rows = self.conn.execute("SELECT id, created_at, command, args, summary FROM runs ORDER BY id DESC LIMIT ?",
                                 (-1 if limit is None else limit,)).fetchall()
        return [{"id": r[0], "created_at": r[1], "command": r[2], "args": json.loads(r[3]), "summary": json.loads(r[4])} for r in rows]

    def results(self, kind: str | None = None) -> Iterator[dict[str, Any]]:
        q = "SELECT kind, model, model_sha256, settings, tool_version, profiles_version, created_at, payload FROM results"
        args: tuple = ()
        if kind:
            q += " WHERE kind=?"
            args = (kind,)
        for r in self.conn.execute(q + " ORDER BY created_at", args):
            yield {"kind": r[0], "model": r[1], "model_sha256": r[2], "settings": json.loads(r[3]), "tool_version": r[4],
                   "profiles_version": r[5], "created_at": r[6], "payload": json.loads(r[7])}

    def close(self) -> None:
        self.conn.close()
