"""Untrusted models under limits: ONNX's C++ checker and shape inference (and our shape folding) run in a
forked worker with a wall-clock limit per model and an address-space limit, so no file can hang the tool or take the
machine's memory. A crafted Einsum equation sends ONNX's inference into an endless loop; a Expand to a huge
shape or a billion-element constant would allocate without end. One worker process, forked once and reused
(a fork per model cost ~9 ms), receives the weightless model and sends back the inferred model's bytes; the
parent builds everything else. A request over the time limit kills the worker; the next request forks anew.

Limits are ambient for one command (`with limits(timeout_s=..., memory_mb=...)`, set by the CLI's --timeout
and --memory-limit); defaults 60 s and 2048 MB added to the process's own address space. A lower address-space
limit the environment set (ulimit -v) is kept, never raised, and named when a model runs into it. The worker holds
none of the parent's files and dies with it (address_space_cap, _detach). Where the platform has no fork
(Windows), the work runs in-process without limits and the caller says so.
"""

from __future__ import annotations

import atexit
import contextvars
import os
import pickle
import select
import signal
import threading
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from ..errors import AnalyzerError, ResourceLimitError, param

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
    """Limits for what runs inside the `with`: seconds of shape inference per model (more than 0, at most a day) and
    MB of memory it may add (64 MB to 1 TiB, as the CLI's --timeout and --memory-limit); None keeps the current one."""
    from ..checks import check_number

    if timeout_s is not None:
        check_number("timeout", timeout_s, 0.0, 86_400.0, low_open=True)
    if memory_mb is not None:
        check_number("memory_limit", memory_mb, 64.0, float(1 << 20))
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


class _Server:
    """A forked process that runs requests one at a time under the memory limit; it lives across models (a
    fork per model cost ~9 ms of page-table copying and exit), and is killed and replaced when a request
    overruns its time, and replaced when it died (an abort, an allocation beyond its limit)."""

    def __init__(self, memory_mb: float, timeout_s: float):
        self.memory_mb, self.timeout_s = memory_mb, timeout_s
        req_r, self.req_w = os.pipe()
        self.resp_r, resp_w = os.pipe()
        self.err_r, err_w = os.pipe()  # its stderr: C++ assertions print there before they abort
        self.base = _mapped_bytes()
        self.cap, self.process_limit = address_space_cap(self.base, memory_mb)
        parent, main_thread = os.getpid(), threading.current_thread() is threading.main_thread()
        self.pid = os.fork()
        if self.pid == 0:  # the server: never returns into the caller's stack
            try:
                _detach(parent, main_thread, keep=(req_r, resp_w, err_w), stderr=err_w)
                if self.cap is not None:
                    # lowers the soft limit only: the hard limit (the environment's) is never raised, nor touched
                    resource.setrlimit(resource.RLIMIT_AS, (self.cap, resource.getrlimit(resource.RLIMIT_AS)[1]))
                _serve(req_r, resp_w, timeout_s)
            finally:
                os._exit(0)
        os.close(req_r)
        os.close(resp_w)
        os.close(err_w)
        self.owner = os.getpid()
        self.said = ""

    def out_of_memory(self) -> str:
        """Which limit the worker ran into, truthfully: the process's own (ulimit -v) when it is the lower one."""
        if self.process_limit is not None:
            return (f"the process limit (ulimit -v) is {self.process_limit / MB:.0f} MB, and this process already maps "
                    f"{self.base / MB:.0f} MB of it: raise the limit to analyse this model")
        return f"it needed more than the {self.memory_mb:g} MB memory limit ({param('memory_limit')})"

    def close(self, kill: bool = False) -> int:
        """Stop the server; its wait status."""
        for fd in (self.req_w, self.resp_r):
            _close_quietly(fd)
        if kill:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.said += _drain(self.err_r)
        os.close(self.err_r)
        try:
            _, status = os.waitpid(self.pid, 0)
        except ChildProcessError:
            status = 0
        return status


MB = 1024 * 1024


def address_space_cap(base: int, memory_mb: float) -> tuple[int | None, int | None]:
    """(the worker's address-space limit, the process's own soft limit when that is the lower one). The worker may
    add `memory_mb` to the `base` bytes the process maps; a soft limit set by the environment (ulimit -v) that is
    lower binds instead and is kept, never raised (raising a soft limit above its hard limit fails, and a limit
    the user set is theirs). (None, None) where limits cannot be read or set."""
    if resource is None or not base:
        return None, None
    soft = resource.getrlimit(resource.RLIMIT_AS)[0]  # the soft limit is at most the hard one
    want = base + int(memory_mb * MB)
    if soft != resource.RLIM_INFINITY and soft <= want:
        return None, soft
    return want, None


def _detach(parent: int, main_thread: bool, keep: tuple[int, ...], stderr: int) -> None:
    """In the forked worker: hold nothing of the parent's (its files, sockets, the pipes that tell a process pool's
    workers or a reader of our stdout that we are gone) and die with the parent: on Linux by a parent-death signal
    (set only when forked from the main thread: it fires when the forking thread ends), and on every platform by a
    watchdog thread that sees the parent change."""
    import faulthandler

    faulthandler.disable()  # the C++ message, not a Python stack dump, is the last line we report
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.dup2(stderr, 2)
    top = max(keep)
    try:
        hi = resource.getrlimit(resource.RLIMIT_NOFILE)[0] if resource is not None else 65536
        hi = 65536 if hi == getattr(resource, "RLIM_INFINITY", -1) or hi > 1 << 20 else hi
    except (OSError, ValueError):
        hi = 65536
    low = 3
    for fd in sorted(keep):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(max(low, top + 1), max(hi, top + 1))
    signal.signal(signal.SIGALRM, signal.SIG_DFL)  # _serve's backstop alarm must kill, whatever the parent installed
    if main_thread and hasattr(os, "uname") and os.uname().sysname == "Linux":
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(0)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.25)
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


def _close_quietly(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


def _read_exact(fd: int, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        block = os.read(fd, min(n - len(buf), 1 << 20))
        if not block:
            return None
        buf += block
    return bytes(buf)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(len(data).to_bytes(8, "little") + data)
    while view:
        view = view[os.write(fd, view):]


def _serve(req_r: int, resp_w: int, timeout_s: float) -> None:
    while True:
        head = _read_exact(req_r, 8)
        if head is None:
            return  # the parent is gone or done with us
        body = _read_exact(req_r, int.from_bytes(head, "little"))
        if body is None:
            return
        try:
            fn, args = pickle.loads(body)
            # a backstop where the parent is gone and nothing else stops a request (no parent-death signal, the GIL
            # held by C++): the parent kills us at its time limit; the alarm, a little later, kills us without it
            signal.alarm(int(timeout_s) + 5)
            payload = ("ok", fn(*args))
        except MemoryError:
            payload = ("memory", "")
        except AnalyzerError as e:
            payload = ("error", (type(e).__module__, type(e).__qualname__, e.message, e.exit_code))
        except BaseException as e:  # noqa: BLE001 - reported by the parent as an internal error
            text = f"{type(e).__name__}: {e}"
            payload = ("memory", "") if "bad_alloc" in text else ("internal", traceback.format_exc())
        signal.alarm(0)
        try:
            data = pickle.dumps(payload)
        except MemoryError:
            data = pickle.dumps(("memory", ""))
        _write_all(resp_w, data)


_server: list[_Server] = []
_lock = threading.Lock()


def shutdown() -> None:
    """Stop the worker (the next request forks a fresh one: tests that patch what it runs call this)."""
    with _lock:
        while _server:
            srv = _server.pop()
            if srv.owner == os.getpid():
                srv.close()


atexit.register(shutdown)


def run_limited(fn: Callable[..., Any], *args: Any, what: str) -> Any:
    """fn(*args) in the limited worker process under the current limits; its result (picklable) or its
    AnalyzerError comes back. `fn` must be a module-level function. `what` names the model in a limit's error."""
    lim = _LIMITS.get()
    if not SUPPORTED:
        return fn(*args)
    request = pickle.dumps((fn, args))
    with _lock:
        if _server and _server[0].owner != os.getpid():  # inherited through a fork: the parent's, not ours
            for fd in (_server[0].req_w, _server[0].resp_r, _server[0].err_r):
                _close_quietly(fd)
            _server.pop()
        if _server and (_server[0].memory_mb, _server[0].timeout_s) != (lim.memory_mb, lim.timeout_s):
            _server.pop().close()
        if not _server:
            _server.append(_Server(lim.memory_mb, lim.timeout_s))
        srv = _server[0]
        try:
            _write_all(srv.req_w, request)
            data = _response(srv, lim, what)
        except BrokenPipeError:
            data = None
        if data is None:  # the worker died: an abort or the memory limit
            _server.pop()
            status = srv.close()
            said = srv.said
            sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
            last = said.strip().splitlines()[-1][-160:] if said.strip() else ""
            if sig == signal.SIGABRT:
                raise ResourceLimitError(f"{what}: ONNX's shape inference aborted" + (f" ({last})" if last else "")
                                         + "; the model trips an assertion in its C++ code, or ran out of memory: "
                                         + srv.out_of_memory())
            raise ResourceLimitError(f"{what}: shape inference was stopped"
                                     + (f" by signal {signal.Signals(sig).name}" if sig else "")
                                     + (f" ({last})" if last else "") + "; it may have run out of memory: " + srv.out_of_memory())
        srv.said = (srv.said + _drain(srv.err_r))[-4096:]  # keep its stderr pipe from filling
    kind, value = pickle.loads(data)
    if kind == "ok":
        return value
    if kind == "memory":
        raise ResourceLimitError(f"{what}: shape inference ran out of memory: {srv.out_of_memory()}")
    if kind == "error":
        return _raise(*value)
    raise RuntimeError(f"shape inference worker failed:\n{value}")


def _response(srv: _Server, lim: Limits, what: str) -> bytes | None:
    """The worker's reply within the time limit; None when it died. Over the limit it is killed."""
    buf = bytearray()
    need: int | None = None
    deadline = time.monotonic() + lim.timeout_s
    while need is None or len(buf) < 8 + need:
        left = deadline - time.monotonic()
        if left <= 0:
            _server.pop()
            srv.close(kill=True)
            raise ResourceLimitError(f"{what}: shape inference did not finish within {lim.timeout_s:g} s "
                                     f"({param('timeout')}); the model may be crafted to loop")
        ready, _, _ = select.select([srv.resp_r], [], [], min(left, 1.0))
        if not ready:
            continue
        block = os.read(srv.resp_r, 1 << 20)
        if not block:
            return None
        buf += block
        if need is None and len(buf) >= 8:
            need = int.from_bytes(buf[:8], "little")
    return bytes(buf[8:8 + need])


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
