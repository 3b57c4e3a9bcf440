"""The explorer's memory and its drawing ahead: what makes a click feel instant.

A learner's next click is often predictable: the other kernel version, the next or previous step. Drawing
those pictures while the kernel waits for the click turns the click into a cache lookup.

    moves = Kept(8)                          # least recently used first; the oldest goes when full
    moves.get(key, make)                     # make() once per key
    ahead = Ahead()
    ahead.plan([job1, job2])                 # run one job per idle moment on the kernel's event loop,
                                             # DELAY after the last plan(); a new plan() drops the rest

Outside a running event loop (a script, pytest, nbval's cell by cell run) plan() does nothing, so
behaviour there is exactly that of drawing on demand.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict

DELAY = 0.25  # seconds of quiet after an update before drawing ahead: a click in progress goes first
GAP = 0.02  # seconds between two jobs, so a message that arrived meanwhile is handled in between


class Kept(OrderedDict):
    """At most `size` entries, least recently used first."""

    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def get(self, key, make=None):
        """The value for key: kept, or make()'s (then kept), or None without make."""
        if key in self:
            self.move_to_end(key)
            return self[key]
        if make is None:
            return None
        value = make()
        self.put(key, value)
        return value

    def put(self, key, value) -> None:
        if self.size <= 0:
            return
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)


class Ahead:
    """Runs planned jobs one at a time on the running event loop while nothing else happens."""

    def __init__(self, delay: float = DELAY):
        self.delay = delay
        self._plan = 0  # a job of an older plan does not run
        self.done = 0  # jobs run so far (for tests and the benchmark)

    def plan(self, jobs) -> bool:
        """Drop what was planned; run `jobs` after `delay` seconds, one per loop turn. False: no loop."""
        self._plan += 1
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        todo, plan = list(jobs), self._plan

        def next_job():
            if plan != self._plan or not todo:
                return
            todo.pop(0)()
            self.done += 1
            if todo:
                loop.call_later(GAP, next_job)

        if todo:
            loop.call_later(self.delay, next_job)
        return True

    def cancel(self) -> None:
        self._plan += 1
