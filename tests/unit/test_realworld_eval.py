"""The real-world set and its grading, without the mirrors: the dataset, kinds, grades, report.

The runs themselves need local mirrors of public repositories (`python -m keel.evals.realworld`,
a developer-session tool); these tests cover everything around them, offline.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from keel.evals.realworld import (
    DATASET,
    KINDS,
    CaseRun,
    MirrorMissingError,
    RealCase,
    find_mirror,
    finding_kind,
    grade,
    load_cases,
)
from keel.evals.realworld.report import render_results, render_severity_table, update_block


def _case(**overrides: object) -> RealCase:
    fields: dict[str, object] = {
        "id": "demo-sqli",
        "repo": "owner/demo",
        "fix_commit": "a" * 40,
        "parent": "b" * 40,
        "file": "demo/db.py",
        "lines": ((10, 10), (20, 21)),
        "category": "sql-injection",
        "severity": "high",
    }
    fields.update(overrides)
    return RealCase(**fields)  # type: ignore[arg-type]


def test_the_set_is_at_least_thirty_references_over_many_kinds() -> None:
    cases = load_cases()
    assert len(cases) >= 30
    assert len({c.category for c in cases}) >= 15
    assert len({c.repo for c in cases}) >= 25
    assert sum(1 for c in cases if c.advisories) >= 10
    for case in cases:
        assert case.summary and case.reference.startswith("https://github.com/"), case.id


def test_the_set_stores_references_only() -> None:
    allowed = {
        "id",
        "repo",
        "fix_commit",
        "parent",
        "file",
        "lines",
        "category",
        "severity",
        "advisories",
        "reference",
        "summary",
    }
    for line in DATASET.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        assert set(row) <= allowed, row["id"]
        assert len(row["summary"]) < 300, row["id"]  # a sentence, not code


def test_a_malformed_case_names_its_line_and_field(tmp_path: Path) -> None:
    good = json.loads(DATASET.read_text(encoding="utf-8").splitlines()[0])
    bad = tmp_path / "set.jsonl"
    bad.write_text(json.dumps({**good, "category": "sqli"}) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"set\.jsonl:1: category 'sqli'"):
        load_cases(bad)
    bad.write_text(json.dumps({**good, "parent": "HEAD~1"}) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="parent must be 40 hex digits"):
        load_cases(bad)
    with pytest.raises(ValueError, match="no case or category"):
        load_cases(DATASET, ["no-such-case"])


def test_a_category_selects_its_cases() -> None:
    xxe = load_cases(DATASET, ["xxe"])
    assert xxe and {c.category for c in xxe} == {"xxe"}


@pytest.mark.parametrize(
    ("finding", "kind"),
    [
        ({"rule": "B608", "title": "Possible SQL injection"}, "sql-injection"),
        ({"rule": "S506", "title": "yaml.load"}, "deserialization"),
        ({"rule": "B603", "title": "subprocess call - check for execution"}, None),
        ({"rule": "B701", "title": "jinja2 autoescape false"}, None),
        ({"rule": "keel.argument-injection", "title": "..."}, "argument-injection"),
        ({"rule": "keel.xml-resolves-entities", "title": "..."}, "xxe"),
        ({"rule": "keel.subprocess-without-timeout", "title": "shell injection"}, None),
        ({"rule": "detect-secrets.secret-keyword", "title": "Secret Keyword"}, "hardcoded-secret"),
        ({"rule": "repo.custom", "title": "bad thing (CWE-611)"}, "xxe"),
        ({"rule": "sql-injection", "title": "query built with f-string"}, "sql-injection"),
        ({"rule": "E501", "title": "line too long: token"}, None),
    ],
)
def test_finding_kind(finding: dict[str, str], kind: str | None) -> None:
    assert finding_kind(finding) == kind
    assert kind is None or kind in KINDS


def test_grade_counts_only_the_right_kind_near_the_lines() -> None:
    case = _case()

    def finding(line: int, rule: str, severity: str = "medium", **extra: str) -> dict[str, object]:
        return {"file": "demo/db.py", "line": line, "rule": rule, "severity": severity,
                "category": "security", "title": "", **extra}  # fmt: skip

    assert grade(case, [finding(12, "B608")]).found  # within ±2 of line 10
    assert not grade(case, [finding(13, "B608")]).found
    wrong_kind = grade(case, [finding(20, "B603")])
    assert (wrong_kind.found, wrong_kind.on_lines) == (False, True)
    style = grade(case, [finding(20, "B608", category="style")])
    assert not style.on_lines
    other_file = grade(case, [{**finding(20, "B608"), "file": "demo/other.py"}])
    assert not other_file.on_lines
    high = grade(case, [finding(21, "keel.tainted-sql", "high"), finding(99, "F401", "low")])
    assert (high.found, high.found_high, high.findings, high.high) == (True, True, 2, 1)
    assert high.matched == ["keel.tainted-sql@21 high"]


def test_a_missing_mirror_says_what_to_fetch(tmp_path: Path) -> None:
    with pytest.raises(MirrorMissingError, match="fetch github:owner/demo"):
        find_mirror("owner/demo", tmp_path)
    git_dir = tmp_path / "owner+demo" / "repo"
    (git_dir / "objects").mkdir(parents=True)
    (git_dir / "HEAD").write_text("ref: refs/heads/main\n")
    assert find_mirror("owner/demo", tmp_path) == git_dir


def test_records_grade_again_and_render() -> None:
    case = _case()
    record = {
        "id": case.id,
        "status": "done",
        "asked_human": True,
        "reviewed": True,
        "findings": [
            {
                "file": case.file,
                "line": 10,
                "rule": "B608",
                "severity": "medium",
                "category": "security",
                "title": "",
            },  # fmt: skip
        ],
        "baseline_findings": {"bandit": [], "keel-pack": []},
    }
    run = CaseRun.from_json(record, case)
    assert run.keel is not None and run.keel.found
    assert not run.baselines["bandit"].found
    text = render_results([run], model="offline", review=True, stamp="now", command="cmd")
    assert "| Recall graded by kind | 1/1 (100%) | 0/1 (0%) | 0/1 (0%) |" in text
    assert "| sql-injection | 1 | 1/1 | 0/1 | 0/1 |" in text
    assert "**Found by no tool** in this run" in text and "- none" in text


def test_update_block_replaces_only_its_own_block() -> None:
    text = "# Doc\n\nprose\n"
    once = update_block(text, "results model=offline", "A\n")
    assert once.startswith("# Doc\n\nprose\n") and "A" in once
    twice = update_block(
        update_block(once, "results model=local", "L\n"), "results model=offline", "B\n"
    )
    assert "A" not in twice and "B" in twice and "L" in twice
    assert twice.count("<!-- BEGIN results model=offline -->") == 1


def test_the_severity_table_reads_the_rule_pack() -> None:
    table = render_severity_table()
    assert (
        "| xxe | `keel.tainted-xml` | parameter, request, network, process-input | high |" in table
    )
    assert "`keel.subprocess-without-timeout`" not in table  # a correctness rule
