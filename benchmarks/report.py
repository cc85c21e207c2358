"""What every benchmark records beside its figures: timing, the code measured, the machine's load,
and its results written as readable JSON."""

from __future__ import annotations

import datetime
import json
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import vsql


def timed(call: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result


def run(benchmark: str) -> dict:
    """What every result's meta opens with: the benchmark, when it ran, and the command that ran it."""
    return {"benchmark": benchmark,
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "command": shlex.join(["python", "-m", f"benchmarks.{benchmark}", *sys.argv[1:]])}


def header(meta: dict, *extra: str) -> str:
    """The line under a result's title: when and how it ran, on what, at which commit, under what load."""
    g = meta["git"]
    return (f"{meta['date']} · `{meta['command']}` · {meta['cpus']} CPUs · Python {meta['python']} · "
            + " · ".join([*(f"{k} {v}" for k, v in meta["versions"].items()), *extra])
            + (f" · commit {g['commit'][:10]}" if g["commit"] else "")
            + (f" (+ uncommitted changes in {', '.join(g['vsql_modified'])})" if g["vsql_modified"] else "")
            + f" · 1-min load average {meta['loadavg_1min']['start']} → {meta['loadavg_1min']['end']}")


def git() -> dict:
    """The commit of the vsql being measured, and which of its files differ from it."""
    root = Path(vsql.__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "vsql", "udfs"], cwd=root, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "vsql_modified": []}
    if head.returncode != 0:
        return {"commit": None, "vsql_modified": []}
    return {"commit": head.stdout.strip(), "vsql_modified": sorted(line[3:] for line in dirty.stdout.splitlines())}


def loadavg() -> float | None:
    """The machine's 1-minute load average: other work competing for the cores during the run."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def to_json(result: dict) -> str:
    """Indented JSON with each list of numbers (the raw samples) on one line."""
    text = json.dumps(result, indent=1, default=float)
    return re.sub(r"\[\s+([-\d.eE+,\s]+?)\s+\]", lambda m: "[" + re.sub(r"\s+", "", m.group(1)) + "]", text) + "\n"


def write(out: Path, name: str, result: dict, text: str) -> None:
    """`<out>/<name>.json` and `<out>/<name>.md`, and the Markdown printed."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(to_json(result))
    (out / f"{name}.md").write_text(text)
    print(text)
