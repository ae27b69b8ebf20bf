"""Measure one child-process run: wall time, CPU time and peak RSS of the whole process tree.

* wall: ``time.perf_counter`` around the call.
* CPU: user + system time of the children, as the change over the call of (reaped children,
  ``resource.getrusage(RUSAGE_CHILDREN)``) + (live descendants, ``/proc/<pid>/stat``, each with
  the children it reaped). So a process that outlives the call (the local run's shared Spark
  driver, which serves several jobs) counts only the CPU it used during the call, and one
  started before the call and reaped in it counts its time since the call began. A grandchild
  that is never reaped is counted while it lives.
* peak RSS: a thread samples ``VmRSS`` of every descendant of this process every
  ``interval`` seconds (``/proc/<pid>/status``) and keeps the largest sum over the tree.
  A process that has not yet left its parent's memory is not counted: a child forked or
  spawned (``posix_spawn`` shares the address space until ``exec``) whose executable and
  virtual size equal its parent's. The JVM spawns such children for Hadoop's shell commands,
  and a sample that caught one counted the JVM twice (a 2.1 GB job recorded as 4.4 GB).
  Pages shared between processes that did diverge (forked Python workers) still count once
  per process, so the sum is an upper bound. The run keeps the processes of its peak sample
  (``peak_processes``: the largest three, as ``name[pid] MB``), so a high peak can be traced
  to a process. Without ``/proc`` it falls back to ``ru_maxrss`` of the children, which is
  the peak of the single largest child, not of the tree.

The harness runs one side at a time, so "every descendant of this process" is the tree of
the run being measured.
"""

from __future__ import annotations

import os
import resource
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

SAMPLE_INTERVAL_S = 0.2
PROC = "/proc"
RSS_TREE = (
    "proc-tree VmRSS sum, sampled every 0.2 s, without children still on their parent's memory"
)
RSS_MAXRSS = "ru_maxrss of the largest child (fallback: no /proc)"


@dataclass
class Measurement:
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    rss_method: str
    returncode: int
    samples: int
    #: the largest processes in the peak sample, ``"java[4242] 3593"`` (MB); empty without /proc
    peak_processes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def _parent_map() -> dict[int, int]:
    """pid -> ppid for every process visible in /proc."""
    parents: dict[int, int] = {}
    for name in os.listdir(PROC):
        if not name.isdigit():
            continue
        try:
            with open(f"{PROC}/{name}/stat", encoding="ascii", errors="replace") as handle:
                stat = handle.read()
        except OSError:
            continue
        # The command name is in parentheses and may itself contain spaces or ')'.
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 1:
            parents[int(name)] = int(fields[1])
    return parents


def descendants(root: int, parents: dict[int, int] | None = None) -> list[int]:
    """Every live descendant of ``root`` (not ``root`` itself)."""
    children: dict[int, list[int]] = {}
    for pid, ppid in (_parent_map() if parents is None else parents).items():
        children.setdefault(ppid, []).append(pid)
    out: list[int] = []
    stack = list(children.get(root, []))
    while stack:
        pid = stack.pop()
        out.append(pid)
        stack.extend(children.get(pid, []))
    return out


def memory_kb(pid: int) -> tuple[int, int]:
    """(``VmRSS``, ``VmSize``) of ``pid`` in kB; zeros when it is gone."""
    found = {"VmRSS:": 0, "VmSize:": 0}
    try:
        with open(f"{PROC}/{pid}/status", encoding="ascii", errors="replace") as handle:
            for line in handle:
                fields = line.split()
                if fields and fields[0] in found:
                    found[fields[0]] = int(fields[1])
    except (OSError, ValueError):
        pass
    return found["VmRSS:"], found["VmSize:"]


def _executable(pid: int) -> str | None:
    try:
        return os.readlink(f"{PROC}/{pid}/exe")
    except OSError:
        return None


def tree_rss_kb(root: int) -> dict[int, int]:
    """``{pid: VmRSS kB}`` of every descendant of ``root`` that holds memory of its own: a
    child whose executable and virtual size equal its parent's (forked, or spawned and not yet
    exec'd) shares its parent's pages and is left out."""
    parents = _parent_map()
    pids = descendants(root, parents)
    memory = {pid: memory_kb(pid) for pid in [root, *pids]}
    out = {}
    for pid in pids:  # a descendant's parent is the root or another descendant
        rss, size = memory[pid]
        parent = parents[pid]
        if size and size == memory[parent][1] and _executable(pid) == _executable(parent):
            continue
        out[pid] = rss
    return out


def process_name(pid: int) -> str:
    """The kernel's short name of ``pid`` (``/proc/<pid>/comm``: ``java``, ``python3.11``)."""
    try:
        with open(f"{PROC}/{pid}/comm", encoding="utf-8", errors="replace") as handle:
            return handle.read().strip() or "?"
    except OSError:
        return "?"


def largest(rss_by_pid: dict[int, int], count: int = 3) -> list[str]:
    """The ``count`` largest entries of ``{pid: kB}``, as ``name[pid] MB``."""
    top = sorted(rss_by_pid.items(), key=lambda item: (-item[1], item[0]))[:count]
    return [f"{process_name(pid)}[{pid}] {kb / 1024:.0f}" for pid, kb in top if kb > 0]


class _TreeSampler(threading.Thread):
    def __init__(self, root: int, interval: float) -> None:
        super().__init__(daemon=True, name="bench-rss-sampler")
        self.root = root
        self.interval = interval
        self.peak_kb = 0
        self.peak_processes: list[str] = []
        self.samples = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            rss_by_pid = tree_rss_kb(self.root)
            total = sum(rss_by_pid.values())
            if total > self.peak_kb:
                self.peak_kb, self.peak_processes = total, largest(rss_by_pid)
            self.samples += 1
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def tree_cpu_s(root: int) -> dict[int, float]:
    """``{pid: CPU seconds}`` of every live descendant of ``root``: its own user + system time
    and that of the children it reaped (``/proc/<pid>/stat`` utime, stime, cutime, cstime)."""
    ticks = os.sysconf("SC_CLK_TCK")
    out: dict[int, float] = {}
    for pid in descendants(root):
        try:
            with open(f"{PROC}/{pid}/stat", encoding="ascii", errors="replace") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            out[pid] = sum(int(value) for value in fields[11:15]) / ticks
        except (OSError, ValueError, IndexError):
            continue
    return out


def _cpu_s(live: dict[int, float]) -> float:
    """CPU of every child process so far: the reaped ones and the ``live`` ones."""
    return _children_cpu_s() + sum(live.values())


def measure(run: Callable[[], int], interval: float = SAMPLE_INTERVAL_S) -> Measurement:
    """Call ``run`` (which starts child processes, waits for them and returns an exit code)."""
    have_proc = os.path.isdir(f"{PROC}/self")
    sampler = _TreeSampler(os.getpid(), interval) if have_proc else None
    cpu_before = _cpu_s(tree_cpu_s(os.getpid()) if have_proc else {})
    if sampler:
        sampler.start()
    start = time.perf_counter()
    try:
        returncode = run()
    finally:
        wall = time.perf_counter() - start
        if sampler:
            sampler.stop()
    cpu = _cpu_s(tree_cpu_s(os.getpid()) if have_proc else {}) - cpu_before
    processes: list[str] = []
    if sampler and sampler.samples:
        peak_mb, method, samples = sampler.peak_kb / 1024, RSS_TREE, sampler.samples
        processes = sampler.peak_processes
    else:
        # ru_maxrss is in kB on Linux and the max over all children ever: only a fallback.
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        method, samples = RSS_MAXRSS, 0
    return Measurement(
        wall_s=round(wall, 3),
        cpu_s=round(cpu, 3),
        peak_rss_mb=round(peak_mb, 1),
        rss_method=method,
        returncode=returncode,
        samples=samples,
        peak_processes=processes,
    )
