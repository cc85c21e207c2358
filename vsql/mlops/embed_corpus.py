"""A small real-text corpus for notebooks/semantic_search.ipynb: the standard library's docstrings.

`stdlib_docs()` returns one row per public module, class and function of the standard library
that has a docstring: its module, its name ('' for the module itself) and its first paragraph.
The modules are imported in a child interpreter, isolated (`python -I embed_corpus.py OUT.json`),
so that importing a few hundred of them leaves the caller's process, threads and output alone.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import pkgutil
import re
import subprocess
import sys
import tempfile
import threading
import warnings

# Modules whose import has side effects (opens a browser, prints, starts a GUI or a program),
# internal test suites, and packages of generated or deprecated boilerplate.
SKIP = {"antigravity", "this", "idlelib", "tkinter", "turtle", "turtledemo", "__main__", "test",
        "lib2to3", "distutils", "encodings"}


def stdlib_docs(timeout: float = 300) -> list[dict]:
    """[{"module", "name", "doc"}, ...] for this interpreter's standard library, in a fixed order."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "docs.json")
        subprocess.run([sys.executable, "-I", os.path.abspath(__file__), out], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=timeout, check=True)
        with open(out, encoding="utf-8") as file:
            return json.load(file)


def _first_paragraph(doc: object) -> str:
    if not isinstance(doc, str):
        return ""
    return re.sub(r"\s+", " ", inspect.cleandoc(doc).split("\n\n")[0]).strip()[:400]


def _skipped(name: str) -> bool:
    return any(part.startswith("_") or part in SKIP or part in ("tests", "idle_test") for part in name.split("."))


def _modules():
    """Import every public standard-library module and submodule that imports quietly."""
    pending = sorted(name for name in sys.stdlib_module_names if not _skipped(name))
    while pending:
        name = pending.pop(0)
        threads = threading.active_count()
        try:
            module = importlib.import_module(name)
        except BaseException:  # missing on this platform, or refuses to import: not in the corpus
            continue
        if threading.active_count() != threads:  # started a thread: leave it out
            continue
        yield module
        if hasattr(module, "__path__"):
            pending[:0] = sorted(f"{name}.{sub.name}" for sub in pkgutil.iter_modules(module.__path__)
                                 if not _skipped(f"{name}.{sub.name}"))


def _collect() -> list[dict]:
    rows, seen = [], set()
    for module in _modules():
        entries = [("", module)] + [(name, value) for name, value in sorted(vars(module).items())
                                    if not name.startswith("_") and callable(value)
                                    and getattr(value, "__module__", None) == module.__name__]
        for name, value in entries:
            doc = _first_paragraph(value.__doc__)
            if len(doc) >= 20 and (module.__name__, doc) not in seen:
                seen.add((module.__name__, doc))
                rows.append({"module": module.__name__, "name": name, "doc": doc})
    return rows


if __name__ == "__main__":
    warnings.simplefilter("ignore")
    rows = _collect()
    with open(sys.argv[1], "w", encoding="utf-8") as file:
        json.dump(rows, file)
    os._exit(0)  # do not wait for threads an imported module may have left behind
