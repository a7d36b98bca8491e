"""Fakes the meter and measurement tests share."""


class FakeClock:
    """A clock that only moves when slept on: meters sample on it deterministically."""

    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t

    def sleep(self, s):
        self.t += s
