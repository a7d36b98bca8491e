"""Untrusted models under limits: ONNX's C++ checker and shape inference (and our shape folding) run in a
forked child with a wall-clock limit and an address-space limit, so no file can hang the tool or take the
machine's memory. A crafted Einsum equation sends ONNX's inference into an endless loop; a Expand to a huge
shape or a billion-element constant would allocate without end. The child inherits the parsed, weightless
model (fork: no copy, a few ms) and sends back the inferred model's bytes; the parent builds everything else.

Limits are ambient for one command (`with limits(timeout_s=..., memory_mb=...)`, set by the CLI's --timeout
and --memory-limit); defaults 60 s and 2048 MB added to the process's own address space. Where the platform
has no fork (Windows), the work runs in-process without limits and the caller says so.
"""

from __future__ import annotations

import atexit
import contextvars
import os
import pickle
import select
import signal
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from ..errors import AnalyzerError, ResourceLimitError

try:
    import resource
except ImportError:  # Windows: no fork either
    resource = None  # type: ignore[assignment]

SUPPORTED = hasattr(os, "fork")
NO_LIMIT_NOTE = "this platform cannot fork: shape inference ran without a time or memory limit"


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 60.0
    memory_mb: float = 2048.0  # address space the child may add to what the process already maps


_LIMITS: contextvars.ContextVar[Limits] = contextvars.ContextVar("nas_analyzer_limits", default=Limits())


@contextmanager
def limits(timeout_s: float | None = None, memory_mb: float | None = None) -> Iterator[Limits]:
    current = _LIMITS.get()
    new = Limits(current.timeout_s if timeout_s is None else timeout_s, current.memory_mb if memory_mb is None else memory_mb)
    token = _LIMITS.set(new)
    try:
        yield new
    finally:
        _LIMITS.reset(token)


def current() -> Limits:
    return _LIMITS.get()


def _mapped_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def run_limited(fn: Callable[..., Any], *args: Any, what: str) -> Any:
    """fn(*args) in a forked child under the current limits; its result (picklable) or its AnalyzerError
    comes back. `what` names the model in a limit's error."""
    lim = _LIMITS.get()
    if not SUPPORTED:
        return fn(*args)
    r, w = os.pipe()
    er, ew = os.pipe()  # the child's stderr: C++ assertions print there before they abort
    base = _mapped_bytes()
    pid = os.fork()
    if pid == 0:  # the child: never returns into the caller's stack
        os.close(r)
        os.close(er)
        os.dup2(ew, 2)
        try:
            if base and resource is not None:
                cap = base + int(lim.memory_mb * 1024 * 1024)
                resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
            try:
                payload = ("ok", fn(*args))
            except MemoryError:
                payload = ("memory", "")
            except AnalyzerError as e:
                payload = ("error", (type(e).__module__, type(e).__qualname__, str(e), e.exit_code))
            except BaseException as e:  # noqa: BLE001 - reported by the parent as an internal error
                text = f"{type(e).__name__}: {e}"
                payload = ("memory", "") if "bad_alloc" in text else ("internal", traceback.format_exc())
            data = pickle.dumps(payload)
            data = len(data).to_bytes(8, "little") + data  # the parent stops reading at the end, not at our exit
            view = memoryview(data)
            while view:
                view = view[os.write(w, view):]
        finally:
            os._exit(0)
    os.close(w)
    os.close(ew)
    buf = bytearray()
    need: int | None = None
    deadline = time.monotonic() + lim.timeout_s
    complete = False
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                os.kill(pid, signal.SIGKILL)
                raise ResourceLimitError(f"{what}: shape inference did not finish within {lim.timeout_s:g} s "
                                         "(--timeout); the model may be crafted to loop")
            ready, _, _ = select.select([r], [], [], min(left, 1.0))
            if not ready:
                continue
            block = os.read(r, 1 << 20)
            if not block:
                break
            buf += block
            if need is None and len(buf) >= 8:
                need = int.from_bytes(buf[:8], "little")
            if need is not None and len(buf) >= 8 + need:
                complete = True
                break
    finally:
        os.close(r)
        if complete:
            _pending.append(pid)  # reaped later: its exit (freeing its memory) need not delay us
        else:
            _reap(pid)
        _reap_finished()
    said = _drain(er) if not complete else ""
    os.close(er)
    if not complete:
        status = _last_status.pop(pid, 0)
        sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
        last = said.strip().splitlines()[-1][-160:] if said.strip() else ""
        if sig == signal.SIGABRT:
            raise ResourceLimitError(f"{what}: ONNX's shape inference aborted" + (f" ({last})" if last else "")
                                     + "; the model trips an assertion in its C++ code, or needed more than the "
                                     f"{lim.memory_mb:g} MB memory limit")
        raise ResourceLimitError(f"{what}: shape inference was stopped"
                                 + (f" by signal {signal.Signals(sig).name}" if sig else "")
                                 + (f" ({last})" if last else "")
                                 + f"; it may have exceeded the {lim.memory_mb:g} MB memory limit (--memory-limit)")
    data = bytes(buf[8 : 8 + need])  # type: ignore[operator]
    kind, value = pickle.loads(data)
    if kind == "ok":
        return value
    if kind == "memory":
        raise ResourceLimitError(f"{what}: shape inference needed more than the {lim.memory_mb:g} MB memory limit "
                                 "(--memory-limit)")
    if kind == "error":
        return _raise(*value)
    raise RuntimeError(f"shape inference worker failed:\n{value}")


def _drain(fd: int, limit: int = 1 << 16) -> str:
    """What the exited child wrote to its stderr (at most `limit` bytes)."""
    out = bytearray()
    while len(out) < limit:
        ready, _, _ = select.select([fd], [], [], 0)
        if not ready:
            break
        block = os.read(fd, 4096)
        if not block:
            break
        out += block
    return out.decode("utf-8", "replace")


_last_status: dict[int, int] = {}
_pending: list[int] = []  # children that delivered their result and are exiting


def _reap(pid: int) -> None:
    try:
        _, status = os.waitpid(pid, 0)
        _last_status[pid] = status
    except ChildProcessError:
        pass


def _reap_finished() -> None:
    for pid in list(_pending):
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            done = pid
        if done:
            _pending.remove(pid)


atexit.register(lambda: [_reap(p) for p in list(_pending)])


def _raise(module: str, qualname: str, message: str, exit_code: int) -> Any:
    """Re-raise the child's AnalyzerError as the same class with the same message (constructors differ, so
    the instance is built without calling them)."""
    import importlib

    try:
        cls = getattr(importlib.import_module(module), qualname)
        if not (isinstance(cls, type) and issubclass(cls, AnalyzerError)):
            raise TypeError
    except (ImportError, AttributeError, TypeError):
        cls = AnalyzerError
    err = cls.__new__(cls)
    Exception.__init__(err, message)
    err.exit_code = exit_code
    raise err
