"""What a run costs the server: CPU seconds per request and memory (PSS), for our stack or any process tree.

CPU is process CPU time (user + system) of every process of the server — gateways, services, NATS and
PostgreSQL with its backends — never the load generator's. Unlike req/s, it hardly depends on what else the
machine is running, so it is the figure to compare two builds with on a shared or noisy machine.

The load generator registers agents, seeds data and warms up before its recorded window, and only prints
when it exits. A sampler thread therefore records the servers' CPU every 0.1 s, and the CPU of the recorded
window is cut out afterwards: from when the process exited minus the window's length, to half a second
before the exit (the tail is connection teardown). Requests in that interval = req/s × its length.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import psutil

TEARDOWN_S = 0.5  # dropped at the end of the window: in-flight requests finishing, sockets closing


def tree(pids: Iterable[int]) -> list[psutil.Process]:
    """The processes and all their descendants (PostgreSQL's backends are children of its postmaster)."""
    out: list[psutil.Process] = []
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            out += [proc, *proc.children(recursive=True)]
        except psutil.NoSuchProcess:
            pass
    return out


def cpu_seconds(pids: Iterable[int]) -> float:
    total = 0.0
    for proc in tree(pids):
        try:
            t = proc.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def pss_bytes(pids: Iterable[int]) -> int:
    """Proportional set size of the process trees (shared pages divided among the processes mapping them)."""
    total = 0
    for proc in tree(pids):
        try:
            total += proc.memory_full_info().pss
        except (psutil.AccessDenied, AttributeError):  # no smaps access: RSS overcounts, but is available
            total += proc.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


@dataclass
class CpuTimeline:
    """Samples the CPU used so far by groups of process trees, every `period` seconds, in a thread."""

    groups: dict[str, list[int]]
    period: float = 0.1
    times: list[float] = field(default_factory=list)
    values: list[dict[str, float]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> CpuTimeline:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()

    def _sample(self) -> None:
        self.values.append({label: cpu_seconds(pids) for label, pids in self.groups.items()})
        self.times.append(time.monotonic())

    def _run(self) -> None:
        self._sample()
        while not self._stop.wait(self.period):
            self._sample()
        self._sample()

    def at(self, t: float) -> dict[str, float]:
        """CPU seconds each group used up to monotonic time t (linear between samples)."""
        i = bisect.bisect_left(self.times, t)
        if i <= 0:
            return self.values[0]
        if i >= len(self.times):
            return self.values[-1]
        t0, t1, v0, v1 = self.times[i - 1], self.times[i], self.values[i - 1], self.values[i]
        share = (t - t0) / (t1 - t0) if t1 > t0 else 1.0
        return {k: v0.get(k, 0.0) + (v1[k] - v0.get(k, 0.0)) * share for k in v1}


def cpu_ms_per_request(
    timeline: CpuTimeline, exited_at: float, elapsed_s: float, rps: float
) -> dict[str, float] | None:
    """Server CPU milliseconds per request over the load generator's recorded window (see module doc), by
    group and in total ("all")."""
    start, end = exited_at - elapsed_s, exited_at - TEARDOWN_S
    if end - start < 1 or rps <= 0 or not timeline.values:
        return None
    before, after = timeline.at(start), timeline.at(end)
    per = {k: round(1000 * (after[k] - before.get(k, 0.0)) / (rps * (end - start)), 3) for k in after}
    return {"all": round(sum(per.values()), 3), **per}
