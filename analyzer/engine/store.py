"""The results store: an embedded SQLite database of static profiles, measurements, calibrations and
projections, keyed by model content hash, settings, profile versions and tool version, so unchanged inputs
are not recomputed and past runs can be listed and exported.

Writes are transactions in WAL mode: a run killed mid-write leaves the earlier rows readable; concurrent
runs serialise on SQLite's lock (busy timeout). A store written by a newer schema is refused; an older one
is migrated. A store already on disk is opened read-only and checked before it is opened for writing: a corrupt
store (or another program's database, or a special file) is reported and the run goes on without it, and the file is
never written, deleted or overwritten. A read or write that fails later marks the store broken: it is not used
again in that run.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import quote

from .. import __version__
from ..errors import StoreError, param
from ..files import MAX_DEPTH, special_file, too_deep
from ..paths import cache_dir

SCHEMA_VERSION = 1
# what reading a damaged file can raise: SQLite's own errors, and text that is not UTF-8 where SQLite says TEXT
DB_ERRORS = (sqlite3.Error, UnicodeDecodeError, OverflowError)
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


def _refuse_special(path: Path) -> None:
    """A FIFO, a device (/dev/null) or a folder is refused before SQLite opens it, which would create PATH-journal
    or PATH-wal beside it."""
    kind = special_file(path)
    if kind is not None:
        raise StoreError(f"store {path} is {kind}, not a regular file: refused; use {param('store')} PATH or {param('no_store')}")


def _check(path: Path) -> None:
    """A StoreError unless `path` is a results store this tool can use: a regular file, SQLite's quick_check passes,
    ours (or empty), not from a newer schema. Read-only, and with nothing created beside the file when SQLite has
    nothing there (a read-only connection to a WAL store leaves PATH-wal and PATH-shm behind): the file is read as
    unchanging then, and read again the usual way if it changed meanwhile (a writer that came and went)."""
    _refuse_special(path)
    if not path.is_file():
        raise StoreError(f"no results store at {path}; run analyze or project first, or give {param('store')} PATH")
    in_use = any(Path(f"{path}{side}").exists() for side in ("-wal", "-journal"))
    stamp = _stamp(path)
    problem = _problem(path, immutable=not in_use)
    if problem and not in_use and _stamp(path) != stamp:
        problem = _problem(path, immutable=False)
    if problem:
        raise StoreError(problem)


def _stamp(path: Path) -> tuple[int, int]:
    try:
        st = os.stat(path)
    except OSError:
        return -1, -1
    return st.st_mtime_ns, st.st_size


def _problem(path: Path, immutable: bool) -> str | None:
    """What makes the file at `path` unusable as a store, or None."""
    conn = None
    mode = "immutable=1" if immutable else "mode=ro"
    try:
        conn = sqlite3.connect(f"file:{quote(str(path.resolve()))}?{mode}", uri=True, timeout=30.0, isolation_level=None)
        version = Store._version(conn)
        problems = [r[0] for r in conn.execute("PRAGMA quick_check(3)")]
        if problems != ["ok"]:
            said = " ".join(str(p).replace("*** in database main ***", "") for p in problems).split()  # one line
            return (f"store {path} is corrupt ({' '.join(said)[:200]}); it was left untouched for recovery "
                    f"(sqlite3 {path} .recover)")
        if version == 0 and conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] > 0:
            return f"store {path} is an SQLite database but not a nas-analyzer results store; it was left untouched"
        if version > SCHEMA_VERSION:
            return f"store {path} has schema v{version}, newer than this tool's v{SCHEMA_VERSION}; upgrade nas-analyzer"
        return None
    except DB_ERRORS as e:
        return f"store {path} is not usable ({e}); it was left untouched"
    finally:
        if conn is not None:
            conn.close()


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
    """A digest of the package's source: results computed by other code are not read back. The whole package, not
    this folder: a projection changes with project/ and account/ as much as with the engine."""
    if not _CODE_VERSION:
        h = hashlib.sha256(__version__.encode())
        root = Path(__file__).resolve().parent.parent
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


def result_keyer(kind: str, settings: dict[str, Any], profiles_ver: str) -> Callable[[str], str]:
    """result_key(kind, sha, settings, profiles_ver) as a function of sha, the settings written as JSON once: a list's
    JSON is its items' JSON joined by ', ' in brackets, so the text hashed is result_key's, byte for byte."""
    def enc(v: Any) -> str:
        return json.dumps(v, sort_keys=True, default=str)

    head, tail = f"[{enc(kind)}, ", f", {enc(settings)}, {enc(profiles_ver)}, {enc(__version__)}]"
    return lambda model_sha256: hashlib.sha256(f"{head}{enc(model_sha256)}{tail}".encode()).hexdigest()


@dataclass
class Store:
    path: Path
    conn: sqlite3.Connection
    broken: StoreError | None = None  # set when a read or write failed: the run goes on without the store

    @classmethod
    def open(cls, path: Path) -> "Store":
        """The store for reading and writing. A file already there is first opened read-only and checked (SQLite's
        quick_check, and that it is a results store at all): a corrupt store, or another program's database, is
        refused without a byte written to it, kept as it is for recovery."""
        if path.exists():
            _check(path)
        else:
            _refuse_special(path)
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
            if version < SCHEMA_VERSION:  # a new store, or an older one to migrate: the only writes open makes
                conn.execute("BEGIN IMMEDIATE")
                for stmt in filter(None, (s.strip() for s in _SCHEMA.split(";"))):
                    conn.execute(stmt)
                conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
                conn.execute("COMMIT")
        except DB_ERRORS as e:
            raise StoreError(f"store {path} is not usable ({e}); it was left untouched; use {param('store')} PATH or {param('no_store')}") from None
        except OSError as e:
            raise StoreError(f"store {path} cannot be opened ({e.strerror}); use {param('store')} PATH or {param('no_store')}") from None
        return cls(path, conn)

    @classmethod
    def open_readonly(cls, path: Path) -> "Store":
        """For listing, export and the check before writing: never writes, so a read-only store (or folder) works.
        A corrupt store, another program's database or a special file is a StoreError; nothing is written."""
        _check(path)
        try:
            conn = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True, timeout=30.0, isolation_level=None)
        except DB_ERRORS as e:
            raise StoreError(f"store {path} is not usable ({e}); it was left untouched") from None
        return cls(path, conn)

    @staticmethod
    def _version(conn: sqlite3.Connection) -> int:
        has_meta = conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'").fetchone()
        if not has_meta:
            return 0
        row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        try:
            version = int(row[0]) if row else 0
        except (TypeError, ValueError):  # written by something else: not a store this tool made
            version = -1
        if version < 0:
            raise sqlite3.DatabaseError(f"its schema_version {str(row[0])[:20]!r} is not a version this tool writes")
        return version

    def _failed(self, what: str, e: Exception) -> StoreError:
        """The store is not used again in this run (a corrupt row is never written over, nor the file beside it)."""
        self.broken = StoreError(f"store {self.path}: {what} failed ({e}); it was left as it is")
        return self.broken

    def _rows(self, query: str, args: tuple = ()) -> list[tuple]:
        if self.broken is not None:
            raise self.broken
        try:
            return self.conn.execute(query, args).fetchall()
        except DB_ERRORS as e:
            raise self._failed("a read", e) from None

    def _json(self, text: Any, skip: str = "") -> Any:
        """The stored JSON text decoded and checked. skip: a payload with a member `skip` after its first, at its top
        level, is decoded up to that member and the rest of the text is not read (the engine writes an evaluation's
        detail last: most of the text, and what a population never reads; a member written after it would not be
        seen); any other text is decoded whole and the member dropped."""
        if skip and type(text) is str:
            cut = text.find(f', "{skip}": ')  # never inside a string, whose quotes are escaped
            if cut > 0:
                try:
                    head = json.loads(text[:cut] + "}")
                except (ValueError, RecursionError):
                    head = None
                if type(head) is dict and skip not in head and not too_deep(head):
                    return head
        try:
            value = json.loads(text)
        except (TypeError, ValueError, RecursionError) as e:
            raise self._failed("a read", ValueError(f"a stored value is not JSON: {type(e).__name__}")) from None
        if skip and type(value) is dict:
            value.pop(skip, None)
        if too_deep(value):  # the engine writes flat records; deeper would break what walks them
            raise self._failed("a read", ValueError(f"a stored value nests more than {MAX_DEPTH} deep"))
        return value

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        rows = self._rows("SELECT payload FROM results WHERE kind=? AND key=?", (kind, key))
        return self._json(rows[0][0]) if rows else None

    def get_many(self, kind: str, keys: dict[str, Any], skip: str = "") -> dict[Any, dict[str, Any]]:
        """{what each found key stands for: payload} for the keys the store holds, in queries of 500; `skip`: a
        member of each payload not read (see _json)."""
        out: dict[Any, dict[str, Any]] = {}
        items = list(keys.items())
        for i in range(0, len(items), 500):
            part = dict(items[i:i + 500])
            marks = ",".join("?" * len(part))
            for key, payload in self._rows(f"SELECT key, payload FROM results WHERE kind=? AND key IN ({marks})", (kind, *part)):
                if key not in part:  # a damaged index (quick_check does not compare it with the table)
                    raise self._failed("a read", ValueError("the store's index and its rows disagree"))
                out[part[key]] = self._json(payload, skip)
        return out

    def put(self, kind: str, key: str, model: str, model_sha256: str, settings: dict[str, Any], profiles_ver: str,
            payload: dict[str, Any]) -> None:
        self.put_many([(kind, key, model, model_sha256, settings, profiles_ver, payload)])

    def put_many(self, rows: list[tuple]) -> None:
        """One transaction for all rows: either every row lands or none does."""
        self._write([("INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                      (kind, key, model, sha, json.dumps(settings, sort_keys=True, default=str), __version__, pver, time.time(),
                       json.dumps(payload, default=str))) for kind, key, model, sha, settings, pver, payload in rows])

    def log_run(self, command: str, args: dict[str, Any], summary: dict[str, Any]) -> None:
        self._write([("INSERT INTO runs (created_at, command, args, summary) VALUES (?, ?, ?, ?)",
                      (time.time(), command, json.dumps(args, default=str), json.dumps(summary, default=str)))])

    def _write(self, statements: list[tuple[str, tuple]]) -> None:
        if self.broken is not None:
            raise self.broken
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            for sql, args in statements:
                self.conn.execute(sql, args)
            self.conn.execute("COMMIT")
        except DB_ERRORS as e:
            try:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
            except DB_ERRORS:
                pass  # the failure is reported below; SQLite rolls back what it could not commit
            raise self._failed("a write", e) from None

    def runs(self, limit: int | None = 50) -> list[dict[str, Any]]:
        """The newest `limit` runs (all with None), newest first."""
        rows = self._rows("SELECT id, created_at, command, args, summary FROM runs ORDER BY id DESC LIMIT ?",
                          (-1 if limit is None else limit,))
        return [{"id": r[0], "created_at": r[1], "command": r[2], "args": self._json(r[3]), "summary": self._json(r[4])} for r in rows]

    def results(self, kind: str | None = None) -> Iterator[dict[str, Any]]:
        q = "SELECT kind, model, model_sha256, settings, tool_version, profiles_version, created_at, payload FROM results"
        args: tuple = ()
        if kind:
            q += " WHERE kind=?"
            args = (kind,)
        for r in self._rows(q + " ORDER BY created_at", args):
            settings, payload = self._json(r[3]), self._json(r[7])
            if not isinstance(settings, dict) or not isinstance(payload, dict):
                raise self._failed("a read", ValueError("a stored result is not a JSON object"))
            yield {"kind": r[0], "model": r[1], "model_sha256": r[2], "settings": settings, "tool_version": r[4],
                   "profiles_version": r[5], "created_at": r[6], "payload": payload}

    def close(self) -> None:
        self.conn.close()
