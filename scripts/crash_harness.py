"""Big crash-recovery runs: `python scripts/crash_harness.py --kills 200`.

Starts a throwaway PostgreSQL server (or uses `--database URL`), SIGKILLs `keel` workers
at random points until `--kills` kills have happened, lets every thread finish, checks
the invariants (see tests/reliability/harness.py) and prints the figures. Exit 0 when
every invariant holds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests._pg import PgServer  # noqa: E402
from tests.reliability.harness import Harness  # noqa: E402


def main() -> int:
    """Run the harness and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--threads", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database", help="PostgreSQL URL (default: a throwaway server)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="keel-crash-") as tmp:
        server = None
        url = args.database
        if url is None:
            server = PgServer().start()
            server.create_database("keel_crash")
            url = server.url("keel_crash")
        try:
            harness = Harness(
                database_url=url,
                workdir=Path(tmp),
                threads=args.threads,
                target_kills=args.kills,
                seed=args.seed,
            )
            stats = harness.run()
            problems = harness.check()
        finally:
            if server is not None:
                server.stop()
    recovery = stats.recovery_s or [0.0]
    print(f"threads: {harness.threads}")
    print(f"kills: {stats.kills} ({dict(stats.kills_by_command)})")
    print(f"commands: {stats.commands}, wall time: {stats.seconds:.0f} s")
    print(
        f"recovery after a kill (kill → thread done): median {statistics.median(recovery):.1f} s,"
        f" max {max(recovery):.1f} s"
    )
    print(f"invariant violations: {len(problems)}")
    for problem in problems:
        print(f"  {problem}")
    return 0 if not problems else 1


if __name__ == "__main__":
    raise SystemExit(main())
