"""Peak memory of one step (a load, an index build) of one system, by sampling.

Every system but the servers and workers runs inside the benchmark's own process, so its memory
is what this process gains during the step: the peak of its proportional set size (PSS: shared
pages split among the processes sharing them) above where it stood before. A peer's other
processes (PostgreSQL's, DuckDB's vss worker) count in full, at their peak during the step.
Sampling every 20 ms misses shorter spikes; memory freed and reused by the allocator before the
step is not seen again: read the figures as approximate.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

INTERVAL_S = 0.02


def _pss(pid: int) -> int:
    import psutil

    try:
        process = psutil.Process(pid)
        try:
            return process.memory_full_info().pss
        except (psutil.AccessDenied, AttributeError):
            return process.memory_info().rss
    except psutil.NoSuchProcess:
        return 0


def peak(step: Callable[[], object], others: Callable[[], list[int]] = list) -> tuple[object, int | None]:
    """(what `step()` returns, the peak bytes it took), or (.., None) without psutil."""
    try:
        import psutil  # noqa: F401
    except ImportError:
        return step(), None
    me = os.getpid()
    base = _pss(me)
    top = [0]
    done = threading.Event()

    def sample() -> None:
        while True:
            top[0] = max(top[0], _pss(me) - base + sum(_pss(pid) for pid in others()))
            if done.wait(INTERVAL_S):
                return

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        result = step()
    finally:
        done.set()
        sampler.join()
    top[0] = max(top[0], _pss(me) - base + sum(_pss(pid) for pid in others()))
    return result, top[0]
