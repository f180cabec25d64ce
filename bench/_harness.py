"""Shared plumbing: databases, alternated timing rounds, tables, machine facts."""

from __future__ import annotations

import os
import platform
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Env", "Table", "alternate", "machine", "median", "persistence", "rss_mb", "timed"]


def median(values: list[float]) -> float:
    """Median of `values` (0.0 for none)."""
    return statistics.median(values) if values else 0.0


def timed(fn: Callable[[], Any]) -> float:
    """Seconds `fn()` took."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def alternate(variants: dict[str, Callable[[], float]], rounds: int) -> dict[str, list[float]]:
    """Run every variant once per round, in turn, `rounds` times; each returns its seconds.

    Alternating spreads the machine's noise (other jobs on 2 cores) over all variants, so
    ratios of medians compare like with like.
    """
    results: dict[str, list[float]] = {name: [] for name in variants}
    for r in range(rounds):
        names = list(variants) if r % 2 == 0 else list(reversed(variants))
        for name in names:
            results[name].append(variants[name]())
    return results


def rss_mb() -> float:
    """Resident set size of this process, MB (from /proc/self/status)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def machine() -> dict[str, str]:
    """What the numbers were measured on: cores, CPU, RAM, Python and library versions."""
    from importlib.metadata import version

    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram = "unknown"
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kb = int(meminfo.read_text().split("MemTotal:")[1].split()[0])
        ram = f"{kb / 1024 / 1024:.1f} GiB"
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "ram": ram,
        "python": platform.python_version(),
        "langgraph": version("langgraph"),
        "langchain": version("langchain"),
        "langgraph-checkpoint-postgres": version("langgraph-checkpoint-postgres"),
        "langgraph-checkpoint-sqlite": version("langgraph-checkpoint-sqlite"),
    }


@dataclass
class Table:
    """One benchmark's result: a titled table plus notes (goals, caveats)."""

    title: str
    header: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def text(self) -> str:
        """Fixed-width rendering for the terminal."""
        cells = [self.header, *self.rows]
        widths = [max(len(row[i]) for row in cells) for i in range(len(self.header))]
        lines = [f"== {self.title} =="]
        for k, row in enumerate(cells):
            lines.append(
                "  ".join(c.rjust(w) if k else c.ljust(w) for c, w in zip(row, widths, strict=True))
            )
        lines.extend(f"  * {note}" for note in self.notes)
        return "\n".join(lines)

    def markdown(self) -> str:
        """GitHub-flavoured Markdown rendering."""
        lines = [f"| {' | '.join(self.header)} |", f"|{'---|' * len(self.header)}"]
        lines.extend(f"| {' | '.join(row)} |" for row in self.rows)
        lines.append("")
        lines.extend(f"- {note}" for note in self.notes)
        return "\n".join(lines)


class Env:
    """Run settings and databases for the benchmarks.

    PostgreSQL: `KEEL_BENCH_DATABASE_URL` (a database whose user may CREATE DATABASE), else
    a throwaway server (`tests._pg.PgServer`, which runs with fsync off) for the run.
    """

    def __init__(self, *, quick: bool, latency_s: float = 0.0) -> None:
        self.quick = quick
        self.latency_s = latency_s
        self.tmp = Path(tempfile.mkdtemp(prefix="keel-bench-"))
        self._server: Any = None
        self._admin_url: str | None = os.environ.get("KEEL_BENCH_DATABASE_URL")
        self.pg_note = "external server (KEEL_BENCH_DATABASE_URL)"

    @property
    def admin_url(self) -> str:
        """URL of a database on the server where benchmark databases are created."""
        if self._admin_url is None:
            from tests._pg import PgServer

            self._server = PgServer().start()
            self._admin_url = self._server.url("postgres")
            self.pg_note = "throwaway PostgreSQL (tests/_pg.py: fsync=off, synchronous_commit=off)"
        return self._admin_url

    def pg_url(self) -> str:
        """A fresh, empty PostgreSQL database for one benchmark."""
        from tests._pg import create_database, database_url

        name = f"keel_bench_{uuid.uuid4().hex[:8]}"
        create_database(self.admin_url, name)
        return database_url(self.admin_url, name)

    def sqlite_url(self) -> str:
        """A fresh SQLite file URL for one benchmark."""
        return f"sqlite:///{self.tmp / uuid.uuid4().hex[:8]}.db"

    def close(self) -> None:
        """Stop the throwaway server, if one was started."""
        if self._server is not None:
            self._server.stop()
            self._server = None


@contextmanager
def persistence(url: str) -> Iterator[Any]:
    """Keel's `open_persistence(url)`: safe serializer, WAL / pool settings."""
    from keel.persistence import open_persistence

    with open_persistence(url) as p:
        yield p
