"""Fakes the meter and measurement tests share."""


class FakeClock:
    """A clock that only moves when slept on: meters sample on it deterministically."""

    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t

    def sleep(self, s):
        self.t += s


class FakeNvml:
    """The pynvml calls every meter makes before reading anything, answering as one H100 does; the meters' own
    fakes add the readings they test (tests/measure/test_meters.py, test_meters_gate.py)."""

    def nvmlInit(self):
        pass

    def nvmlDeviceGetHandleByIndex(self, i):
        return i

    def nvmlDeviceGetName(self, h):
        return "NVIDIA H100 80GB HBM3"


def edited(record, path, value):
    """A deep copy of a JSON-like `record` with the item at `path` (a sequence of keys and indices) set to `value`,
    or removed where `value` is KeyError: one field of a valid input spoiled, for the input doors' tests."""
    import copy

    out = copy.deepcopy(record)
    *parents, last = path
    at = out
    for p in parents:
        at = at[p]
    if value is KeyError:
        del at[last]
    else:
        at[last] = value
    return out
