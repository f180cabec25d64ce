"""A small Python project with planted problems, built as a real git repository.

`build_sample_repo(dest)` writes the project and makes two commits: a clean
baseline, then "Add reporting and admin features", which plants the problems
listed in :data:`PLANTED` (each with the exact file and line in the built
repository). Reviews of ``HEAD~1..HEAD`` should find them; tests and demos use it.

The credentials planted here are fake, made up for the demo, and assembled from
pieces so that scanners run on Keel's own source do not flag this module.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess  # nosec B404 # list args, fixed git commands
from pathlib import Path
from typing import TypedDict

__all__ = ["PLANTED", "PlantedProblem", "build_sample_repo"]


class PlantedProblem(TypedDict):
    """A problem planted in the sample repository's second commit."""

    file: str
    """Repository-relative posix path."""
    line: int
    """Exact 1-based line in the built repository."""
    category: str
    """"security", "correctness" or "style"."""
    kind: str
    """Short name, e.g. "sql-injection"."""
    tool: str
    """The analyzer expected to report it: ruff, bandit, detect-secrets, semgrep, pytest."""


_MARK = re.compile(r"\s*#@(?P<kind>[a-z-]+)$")

# Fake credentials, split so that no scanner sees them in this file.
_FAKE_KEY_ID = "AKIA" + "4R7TXQ2MZ9LKD3WB"
_FAKE_CREDENTIAL = "q9ZtLw3X" + "v8Rk2Nf7" + "Hs5Jd1Pm" + "6Cb4Gy0T" + "aEeUoWiQ" + "rSz"

_PYPROJECT = """\
[project]
name = "inventory"
version = "0.1.0"
requires-python = ">=3.10"

[tool.pytest.ini_options]
testpaths = ["tests"]
pythonpath = ["."]
"""

_README = """\
# inventory

A tiny stock-keeping library: items, a SQLite store and price helpers.
"""

_INIT = '''\
"""Stock-keeping: items, a SQLite store and price helpers."""

__version__ = "0.1.0"
'''

_MODELS = '''\
"""Inventory records."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Item:
    """One stock-keeping unit."""

    sku: str
    name: str
    category: str
    price_cents: int
    quantity: int

    @property
    def value_cents(self) -> int:
        """Stock value of this item in cents."""
        return self.price_cents * self.quantity
'''

_STORE = '''\
"""SQLite persistence for items."""

from __future__ import annotations

import sqlite3

from inventory.models import Item

SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    sku TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    category TEXT NOT NULL,
    price_cents INTEGER NOT NULL,
    quantity INTEGER NOT NULL
)
"""


def connect(path: str = ":memory:") -> sqlite3.Connection:
    """Open the database and create the schema."""
    conn = sqlite3.connect(path)
    conn.execute(SCHEMA)
    return conn


def add_item(conn: sqlite3.Connection, item: Item) -> None:
    """Insert or replace an item."""
    conn.execute(
        "INSERT OR REPLACE INTO items VALUES (?, ?, ?, ?, ?)",
        (item.sku, item.name, item.category, item.price_cents, item.quantity),
    )


def get_item(conn: sqlite3.Connection, sku: str) -> Item | None:
    """Return the item with this SKU, if any."""
    row = conn.execute("SELECT * FROM items WHERE sku = ?", (sku,)).fetchone()
    return Item(*row) if row else None
'''

_PRICING = '''\
"""Price helpers."""

from __future__ import annotations


def apply_discount(price_cents: int, percent: int) -> int:
    """Return the price after a percentage discount, rounded down to a cent."""
    if not 0 <= percent <= 100:
        raise ValueError(f"discount out of range: {percent}")
    return price_cents * (100 - percent) // 100
'''

_TEST_PRICING = """\
import pytest

from inventory.pricing import apply_discount


def test_discount() -> None:
    assert apply_discount(1000, 25) == 750


def test_discount_out_of_range() -> None:
    with pytest.raises(ValueError):
        apply_discount(1000, 120)
"""

_TEST_STORE = """\
from inventory.models import Item
from inventory.store import add_item, connect, get_item


def test_roundtrip() -> None:
    conn = connect()
    item = Item("A-1", "Anvil", "tools", 4999, 3)
    add_item(conn, item)
    assert get_item(conn, "A-1") == item
    assert get_item(conn, "missing") is None
"""

_REPORTS = '''\
"""Sales and stock reports."""

from __future__ import annotations

import json  #@unused-import
import sqlite3


def items_in_category(conn: sqlite3.Connection, category: str) -> list[tuple[str, int]]:
    """Return (sku, quantity) of every item in a category."""
    cur = conn.cursor()
    cur.execute(f"SELECT sku, quantity FROM items WHERE category = '{category}'")  #@sql-injection
    return cur.fetchall()


def average_order_value(orders: list[int]) -> float:
    """Return the mean order value in cents (0.0 for no orders)."""
    if not orders:
        return 0.0
    return sum(orders) / (len(orders) + 1)  #@wrong-average


def load_report_settings(path: str) -> dict[str, object]:
    """Read the report layout from a YAML file."""
    import yaml

    with open(path, encoding="utf-8") as fh:
        return yaml.load(fh, Loader=yaml.Loader)  #@unsafe-yaml-load
'''

_ADMIN = '''\
"""Administrative commands for the inventory service."""

from __future__ import annotations

import os
import subprocess
import sys

REPORT_DIR = "/var/lib/inventory/reports"
S3_ACCESS_KEY_ID = "{key_id}"  #@hardcoded-secret
S3_SECRET_ACCESS_KEY = "{secret}"  #@hardcoded-secret


def run_maintenance(command: str) -> int:
    """Run a maintenance command typed by the operator."""
    done = subprocess.run("inventory-maint " + command, shell=True, timeout=600)  #@shell-injection
    return done.returncode


def show_report() -> None:
    """Print a saved report; its name comes from the command line."""
    report_name = sys.argv[1]
    with open(os.path.join(REPORT_DIR, report_name), encoding="utf-8") as fh:  #@path-traversal
        print(fh.read())
'''

_TEST_REPORTS = """\
from inventory.reports import average_order_value


def test_average_of_no_orders() -> None:
    assert average_order_value([]) == 0.0


def test_average_order_value() -> None:
    assert average_order_value([1000, 2000, 3000]) == 2000.0  #@failing-test
"""

_CATEGORY = {
    "unused-import": ("style", "ruff"),
    "sql-injection": ("security", "bandit"),
    "wrong-average": ("correctness", "pytest"),
    "unsafe-yaml-load": ("security", "bandit"),
    "hardcoded-secret": ("security", "detect-secrets"),
    "shell-injection": ("security", "bandit"),
    "path-traversal": ("security", "semgrep"),
    "failing-test": ("correctness", "pytest"),
}


def _render(file: str, template: str) -> tuple[str, list[PlantedProblem]]:
    """Strip ``#@kind`` markers from a template and record where they were."""
    lines: list[str] = []
    planted: list[PlantedProblem] = []
    for number, line in enumerate(template.splitlines(), 1):
        match = _MARK.search(line)
        if match:
            kind = match.group("kind")
            category, tool = _CATEGORY[kind]
            planted.append(
                PlantedProblem(file=file, line=number, category=category, kind=kind, tool=tool)
            )
            line = line[: match.start()]
        lines.append(line)
    return "\n".join(lines) + "\n", planted


_BASELINE: dict[str, str] = {
    "pyproject.toml": _PYPROJECT,
    "README.md": _README,
    "inventory/__init__.py": _INIT,
    "inventory/models.py": _MODELS,
    "inventory/store.py": _STORE,
    "inventory/pricing.py": _PRICING,
    "tests/__init__.py": "",
    "tests/test_pricing.py": _TEST_PRICING,
    "tests/test_store.py": _TEST_STORE,
}

_FEATURE_TEMPLATES: dict[str, str] = {
    "inventory/reports.py": _REPORTS,
    "inventory/admin.py": _ADMIN.replace("{key_id}", _FAKE_KEY_ID).replace(
        "{secret}", _FAKE_CREDENTIAL
    ),
    "tests/test_reports.py": _TEST_REPORTS,
}


def _feature_files() -> tuple[dict[str, str], list[PlantedProblem]]:
    files: dict[str, str] = {}
    planted: list[PlantedProblem] = []
    for name, template in _FEATURE_TEMPLATES.items():
        files[name], found = _render(name, template)
        planted.extend(found)
    return files, planted


_FEATURE, PLANTED = _feature_files()
"""Every planted problem, with its exact file and line in the built repository."""

SECRETS: tuple[str, ...] = (_FAKE_KEY_ID, _FAKE_CREDENTIAL)
"""The fake credential values planted in the repository (for tests: never print them)."""

_GIT_ENV = {
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_DATE": "2024-01-02T10:00:00+00:00",
    "GIT_COMMITTER_DATE": "2024-01-02T10:00:00+00:00",
}


def _git(dest: Path, *args: str) -> None:
    git = shutil.which("git")
    if git is None:
        raise FileNotFoundError("git is not installed: install git to build the sample repo")
    env = {**os.environ, **_GIT_ENV, "HOME": str(dest)}
    proc = subprocess.run(  # nosec B603 # fixed git commands, list args
        [git, *args],
        cwd=dest,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {proc.stderr.strip()}")


def _write(dest: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = dest / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def build_sample_repo(dest: Path) -> Path:
    """Build the sample project as a git repository with two commits.

    Commit 1 ("Initial inventory library") is clean; commit 2 ("Add reporting
    and admin features") plants the problems in :data:`PLANTED`, so
    ``git diff HEAD~1..HEAD`` shows all of them.

    Args:
        dest: Directory to create the repository in; created if missing, and
            must be empty if it exists.

    Returns:
        The repository root (``dest`` resolved).

    Raises:
        FileExistsError: If ``dest`` exists and is not empty.
        RuntimeError: If a git command fails.
    """
    dest = dest.resolve()
    if dest.exists() and any(dest.iterdir()):
        raise FileExistsError(f"not empty: {dest}")
    dest.mkdir(parents=True, exist_ok=True)
    _git(dest, "init", "-q", "-b", "main")
    _git(dest, "config", "user.name", "Sample Developer")
    _git(dest, "config", "user.email", "dev@example.com")
    _git(dest, "config", "commit.gpgsign", "false")
    _write(dest, _BASELINE)
    _git(dest, "add", "-A")
    _git(dest, "commit", "-q", "-m", "Initial inventory library")
    _write(dest, _FEATURE)
    _git(dest, "add", "-A")
    _git(dest, "commit", "-q", "-m", "Add reporting and admin features")
    return dest


def main(argv: list[str] | None = None) -> int:
    """`python -m keel.sample DEST`: build the sample repository at DEST."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m keel.sample DEST", file=sys.stderr)
        return 2
    try:
        path = build_sample_repo(Path(args[0]))
    except (FileExistsError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
