"""The README's promises: its two commands, and the Python example it shows."""

import re
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def readme_commands():
    return [line.strip() for line in README.splitlines()[1:5] if line.startswith("    ")]


def test_readme_starts_with_the_two_commands():
    main, tests = readme_commands()
    assert "pip install -c constraints.txt ." in main and "vsql --demo" in main
    assert "pip install -c constraints.txt -e '.[test,embed]'" in tests and tests.endswith("pytest")


def test_the_pinned_versions_are_the_ones_installed():
    """The commands install what CI tested: every package pinned in constraints.txt that this
    environment has is at the pinned version (a floating sqlglot once changed behaviour silently)."""
    from importlib.metadata import PackageNotFoundError, version

    pins = [line.split("==") for line in (ROOT / "constraints.txt").read_text().splitlines()
            if "==" in line and not line.startswith("#")]
    assert {"duckdb", "sqlglot", "faiss-cpu", "numpy", "pyarrow"} <= {name.lower() for name, _ in pins}
    for name, pinned in pins:
        try:
            assert version(name) == pinned, name
        except PackageNotFoundError:
            continue


def test_ci_runs_the_readme_test_command():
    assert readme_commands()[1] in (ROOT / ".ci" / "run").read_text().splitlines()


def test_readme_python_example(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = re.search(r"```python\n(.*?)```", README, re.S)[1]
    namespace = {}
    exec(code, namespace)
    (row,) = namespace["rows"]
    assert row[0] == 1
    np.testing.assert_array_equal(row[1], [1, 2, 3])
