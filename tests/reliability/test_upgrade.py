"""A thread paused for approval by the previous Keel resumes on this one.

The previous release is a pinned commit of this repository (`PREVIOUS`), extracted with
`git archive` and run with `PYTHONPATH=<that tree>`, so its `keel`, `graphs`, `nodes` and
`tools` shadow the installed ones (checked in a subprocess before the review). That code
reviews the sample repository until the thread waits at the review gate, writing the
checkpoints, the registry and the store into a real database (SQLite file and PostgreSQL,
the `db_url` fixture). The current code then lists, shows and approves the thread: it must
end done, with each approved action run exactly once (the effect journal), and `keel show`
and `keel history` must read it.

Renaming a node, a state key, a serialized class's module or a package breaks this test
when old checkpoints no longer load or route; move `PREVIOUS` forward only to a commit
whose threads the current code must resume. A clone without that commit fails the test
with the command that fetches it: an upgrade test that does not run proves nothing.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from keel.tools.semgrep import find_semgrep
from tests.e2e.conftest import KeelRunner, git_status

pytestmark = pytest.mark.slow

PREVIOUS = "cd98a0db93c0a70e716b5cf78eb19749beb13159"
"""The previous release: the commit whose paused threads this code must resume."""

CHECKOUT = Path(__file__).resolve().parents[2]
THREAD = "upgrade-thread"
ACTIONS = ["apply_autofix", "run_tests", "publish_review"]


def _git(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", "-C", str(CHECKOUT), *args], capture_output=True, check=False)


@pytest.fixture(scope="module")
def previous_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The source tree of `PREVIOUS`, extracted from this checkout's history."""
    if _git("rev-parse", "--git-dir").returncode != 0:
        pytest.fail(
            f"the upgrade test needs Keel's git history: {CHECKOUT} is not a git checkout",
            pytrace=False,
        )
    if _git("cat-file", "-e", f"{PREVIOUS}^{{commit}}").returncode != 0:
        pytest.fail(
            f"the upgrade test needs commit {PREVIOUS} (the previous release) in this clone; "
            f"a shallow clone lacks it: run `git fetch --unshallow` (or "
            f"`git fetch origin {PREVIOUS}`)",
            pytrace=False,
        )
    archive = _git("archive", "--format=tar", PREVIOUS)
    assert archive.returncode == 0, archive.stderr.decode()
    tree = tmp_path_factory.mktemp("previous-keel")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(tree, filter="data")
    return tree


def _previous_env(tree: Path, db_url: str, tmp_path: Path, journal: Path) -> dict[str, str]:
    """The `keel` fixture's environment, with the previous tree first on the import path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEEL_", "OPENAI_"))}
    return env | {
        "PYTHONPATH": str(tree),
        "KEEL_DATABASE_URL": db_url,
        "KEEL_HOME": str(tmp_path / "home"),
        "KEEL_REVIEWER": "e2e-reviewer",
        "KEEL_EFFECT_JOURNAL": str(journal),
        # the previous tree has no .keel-tools of its own: the same semgrep as this checkout
        "KEEL_SEMGREP": str(find_semgrep()),
        "LANGSMITH_TRACING": "false",
    }


def _run_previous(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def _journal(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_thread_paused_by_the_previous_release_resumes_on_this_one(
    previous_tree: Path, keel: KeelRunner, sample_repo: Path, db_url: str, tmp_path: Path
) -> None:
    journal = tmp_path / "effects.jsonl"
    env = _previous_env(previous_tree, db_url, tmp_path, journal)
    where = _run_previous(
        env,
        tmp_path,
        "-c",
        "import json, graphs, keel, keel.cli, nodes, tools; print(json.dumps("
        "{m.__name__: m.__file__ for m in (graphs, keel, keel.cli, nodes, tools)}))",
    )
    assert where.returncode == 0, where.stderr
    for module, path in json.loads(where.stdout).items():
        assert Path(path).is_relative_to(previous_tree), f"{module} imported from {path}"

    review = _run_previous(
        env,
        tmp_path,
        "-m",
        "keel.cli",
        "review",
        str(sample_repo),
        "--no-input",
        "--json",
        "--thread",
        THREAD,
    )
    assert review.returncode == 3, review.stderr
    paused = json.loads(review.stdout)
    assert paused["status"] == "awaiting_approval"
    assert [a["name"] for a in paused["review_request"]["action_requests"]] == ACTIONS
    assert _journal(journal) == [] and git_status(sample_repo) == ""

    # from here on, the current code on the database the previous one wrote
    listed = keel("threads", "--json")
    assert listed.code == 0, listed.stderr
    assert [(t["thread_id"], t["status"]) for t in listed.json()] == [(THREAD, "awaiting_approval")]
    waiting = keel("show", THREAD, "--json")
    assert waiting.code == 0, waiting.stderr
    assert waiting.json()["status"] == "awaiting_approval"

    approve = keel("approve", THREAD, "--json", extra_env={"KEEL_EFFECT_JOURNAL": str(journal)})
    assert approve.code == 0, approve.stderr
    final = approve.json()
    assert final["status"] == "done"
    results = final["report"]["action_results"]
    assert sorted(r["name"] for r in results) == sorted(ACTIONS)
    assert {r["name"]: r["status"] for r in results} == dict.fromkeys(ACTIONS, "done")
    assert results[[r["name"] for r in results].index("run_tests")]["output"]["failed"] == 1
    assert sorted(e["action_id"] for e in _journal(journal)) == sorted(ACTIONS)
    assert (sample_repo / "KEEL_REVIEW.md").read_text().startswith("# Keel review")
    assert "import json\n" not in (sample_repo / "inventory/reports.py").read_text()
    assert final["report"]["review"]["reviewer"] == "e2e-reviewer"

    shown = keel("show", THREAD, "--json")
    assert shown.code == 0, shown.stderr
    assert shown.json()["status"] == "done"
    markdown = keel("show", THREAD)
    assert markdown.code == 0, markdown.stderr
    assert "Keel review" in markdown.stdout
    history = keel("history", THREAD, "--json")
    assert history.code == 0, history.stderr
    assert len(history.json()) > 1
    assert keel("approve", THREAD).code == 5  # nothing awaits approval any more
    assert keel("resume", THREAD).code == 5
    assert len(_journal(journal)) == len(ACTIONS)  # each action ran once, never again
