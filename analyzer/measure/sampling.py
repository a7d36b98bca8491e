"""Energy from power readings: sensors and tools that report watts, not a cumulative counter, behind the meter
protocol. A snapshot is the joules integrated so far.

- PowerIntegrator: reads a power sensor (sysfs) and integrates by the trapezoid rule between readings; a daemon
  thread reads every interval_s so a window holds many readings (tests read by hand, with a fake clock).
- StreamMeter: a tool that prints one sample per interval (powermetrics, tegrastats); a daemon thread feeds
  its lines to a parser that returns (seconds, watts) per complete sample, and the meter adds watts x seconds.
"""

from __future__ import annotations

import subprocess
import threading
import time
from typing import Callable, Iterable, Protocol

import math

from ..errors import MeterUnavailable
from .meters import EnergyMeter, counter_delta, power_ceiling_w


def check_sample(meter: EnergyMeter, seconds: float, watts: float) -> None:
    """One power reading held for `seconds`: finite, non-negative watts within the meter's ceiling (meters.py
    power_ceiling_w) over a positive time; else MeterUnavailable (a 9e16 W tegrastats line is not a measurement)."""
    high, why = power_ceiling_w(meter)
    if not (isinstance(watts, (int, float)) and math.isfinite(watts) and 0 <= watts <= high):
        raise MeterUnavailable(f"{meter.source}: a reading of {watts!r} W is outside 0..{high:,.6g} W ({why}): refused as "
                               "implausible")
    if not (math.isfinite(seconds) and seconds > 0):
        raise MeterUnavailable(f"{meter.source}: a sample lasting {seconds!r} s; samples must last a positive time")


class PowerIntegrator(EnergyMeter):
    min_window_s = 1.0

    def __init__(self, read_w: Callable[[], float], source: str, *, clock: Callable[[], float] = time.perf_counter,
                 interval_s: float | None = 0.05) -> None:
        self.read_w, self.clock, self.source = read_w, clock, source
        self.lock = threading.Lock()
        self.t, self.w = clock(), read_w()  # a sensor that cannot be read fails here, with its reason
        check_sample(self, 1.0, self.w)
        self.energy_j, self.error = 0.0, ""
        self.stop = threading.Event()
        if interval_s:
            threading.Thread(target=self._loop, args=(interval_s,), daemon=True).start()

    def _loop(self, interval_s: float) -> None:
        while not self.stop.wait(interval_s):
            try:
                self._sample()
            except (MeterUnavailable, OSError, ValueError) as e:
                self.error = str(e)
                return

    def _sample(self) -> float:
        with self.lock:
            t, w = self.clock(), self.read_w()
            if t > self.t:  # two readings at one time add nothing (the clock is monotonic)
                check_sample(self, t - self.t, w)
                self.energy_j += (w + self.w) / 2 * (t - self.t)
            self.t, self.w = t, w
            return self.energy_j

    def snapshot(self) -> float:
        if self.error:
            raise MeterUnavailable(f"{self.source}: sampling stopped: {self.error}")
        return self._sample()

    def joules_between(self, a: float, b: float) -> float:
        return counter_delta(a, b, None, self.source)

    def close(self) -> None:
        self.stop.set()


class SampleParser(Protocol):
    def feed(self, line: str) -> list[tuple[float, float]]:
        """(seconds, watts) of each sample the line completes."""


class StreamMeter(EnergyMeter):
    """Joules summed from a tool's samples. `lines` (an iterable of output lines) is injected by tests; by default
    the command is started and its stdout read in a thread."""

    min_window_s = 2.0

    def __init__(self, parser: SampleParser, source: str, command: list[str] | None = None,
                 lines: Iterable[str] | None = None, first_sample_s: float = 5.0) -> None:
        self.parser, self.source = parser, source
        self.energy_j, self.samples, self.error = 0.0, 0, ""
        self.lock = threading.Lock()
        self.proc = None
        if lines is not None:
            self.consume(lines)
            return
        assert command is not None
        try:
            self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        except OSError as e:
            raise MeterUnavailable(f"{source}: cannot start {command[0]} ({e.strerror})") from None
        threading.Thread(target=self.consume, args=(self.proc.stdout,), daemon=True).start()
        deadline = time.monotonic() + first_sample_s
        while not self.samples and time.monotonic() < deadline and self.proc.poll() is None:
            time.sleep(0.05)
        if not self.samples:
            err = (self.proc.stderr.read() if self.proc.poll() is not None else "").strip().splitlines()
            self.close()
            raise MeterUnavailable(f"{source}: no sample from {' '.join(command)} within {first_sample_s:g} s"
                                   + (f" ({err[0][:200]})" if err else "") + (f"; {self.error}" if self.error else ""))

    def consume(self, lines: Iterable[str]) -> None:
        try:
            for line in lines:
                for seconds, watts in self.parser.feed(line):
                    check_sample(self, seconds, watts)
                    with self.lock:
                        self.energy_j += watts * seconds
                        self.samples += 1
        except MeterUnavailable as e:
            self.error = str(e)

    def snapshot(self) -> float:
        if self.error:
            raise MeterUnavailable(self.error)
        with self.lock:
            return self.energy_j

    def joules_between(self, a: float, b: float) -> float:
        return counter_delta(a, b, None, self.source)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
