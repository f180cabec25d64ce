"""A review reports the change: classes against the diff, the filter, triggers, report, SARIF.

The classes are computed on real diffs of real repositories (`keel.tools.git.unified_diff`),
then checked directly (`Classifier.place`), through the review triggers, the rendered
report and the SARIF log, with hand-built findings; last, the compiled pipeline with a
scripted model on a change to a large file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.memory import InMemoryStore
from langgraph.types import Command

from keel.core.state import Finding, ToolEvidence
from keel.graphs.pipeline import build_pipeline
from keel.nodes.agents.diff_filter import (
    DIFF_CLASSES,
    SHOWN_BY,
    Classifier,
    active_filter,
    shown,
    shows,
)
from keel.nodes.agents.render import render_report
from keel.nodes.agents.review_gate import build_review_request, check_review_triggers
from keel.nodes.agents.specialist import SpecialistSpec
from keel.nodes.context import DIFF_FILTERS, KeelContext
from keel.sarif import to_sarif
from keel.settings import Settings, SettingsError
from keel.tools import git
from keel.tools.diffs import changed_lines
from keel.tools.instructions import RULE
from tests.support.gitrepo import commit_files, init_repo
from tests.support.scripted import ScriptedChatModel

# 60 functions of 5 lines each after a 6-line header; the change edits `step_40` only
HEADER = '"""A large module."""\n\nimport os\nimport subprocess\nimport sys\n\n'


def _module(step_40: str = "    total = value + 40\n", read: str = "    name = 'fixed'\n") -> str:
    parts = [HEADER]
    for i in range(60):
        body = f"    total = value + {i}\n"
        if i == 40:
            body = step_40
        elif i == 50:  # a taint flow: its source line is what the second change edits
            body = read
        parts.append(f"def step_{i}(value):\n    name = value\n{body}    return open(name)\n\n")
    return "".join(parts)


def _line(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = init_repo(tmp_path / "repo")
    commit_files(root, {"lib.py": _module(), "other.py": "x = 1\n"}, "base")
    return root


def _classifier(root: Path, after: str) -> Classifier:
    commit_files(root, {"lib.py": after}, "change")
    lines = changed_lines(git.unified_diff(root, rev="HEAD~1..HEAD"))
    return Classifier(lines, root)


def _finding(
    line: int,
    *,
    file: str = "lib.py",
    rule: str = "X1",
    category: str = "style",
    severity: str = "low",
    sources: tuple[str, ...] = ("ruff",),
    end_line: int | None = None,
    diff: str | None = None,
) -> Finding:
    finding = Finding(
        id=f"{file}:{rule}:{line}",
        file=file,
        line=line,
        end_line=end_line or line,
        severity=severity,  # type: ignore[typeddict-item]
        category=category,  # type: ignore[typeddict-item]
        rule=rule,
        title=f"{rule} at {line}",
        evidence="code",
        specialist=category,
        confidence=0.9,
        sources=list(sources),
    )
    if diff is not None:
        finding["diff"] = diff  # type: ignore[typeddict-item]
    return finding


# ------------------------------------------------------------------ classification


def test_added_changed_context_elsewhere_and_untouched_files(repo: Path) -> None:
    after = _module(step_40="    total = eval(value)\n    extra = 1\n")
    classes = _classifier(repo, after)
    changed = _line(after, "eval(value)")  # the old line, rewritten: a changed line
    added = _line(after, "extra = 1")  # a new line
    assert classes.place(_finding(changed)) == "introduced"
    assert classes.place(_finding(added)) == "introduced"
    assert classes.place(_finding(changed - 2)) == "context"  # `def step_40` (2 above)
    assert classes.place(_finding(added + 3)) == "context"  # 3 lines after the hunk
    assert classes.place(_finding(added + 4)) == "pre-existing"  # beyond the context
    assert classes.place(_finding(1)) == "pre-existing"
    assert classes.place(_finding(1, file="other.py")) == "outside"
    # a span that reaches an added line is introduced
    assert classes.place(_finding(changed - 5, end_line=changed)) == "introduced"


def test_a_deleted_line_inside_a_findings_span_makes_it_introduced(repo: Path) -> None:
    before = _module()
    after = before.replace("def step_40(value):\n    name = value\n", "def step_40(value):\n")
    classes = _classifier(repo, after)
    first = _line(after, "def step_40")
    assert classes.place(_finding(first, end_line=first + 2)) == "introduced"
    assert classes.place(_finding(first + 1)) == "context"  # one line, not the deletion


def test_a_flow_whose_sink_is_on_an_added_line_is_introduced(repo: Path) -> None:
    after = _module(step_40="    total = value + 40\n    open(value).read()\n")
    classes = _classifier(repo, after)
    sink = _line(after, "open(value).read()")
    flow = _finding(sink, rule="keel.tainted-path", category="security", sources=("semgrep",))
    assert classes.place(flow) == "introduced"


def test_a_flow_the_change_completes_is_introduced_though_its_sink_line_is_old(
    repo: Path,
) -> None:
    # step_50's sink `open(name)` is unchanged; the change makes `name` user input
    after = _module(read="    name = input()\n")
    classes = _classifier(repo, after)
    sink = _line(after, "input()") + 1  # `return open(name)` of step_50
    assert "open(name)" in after.splitlines()[sink - 1]
    assert classes.place(_finding(sink)) == "context"  # a style finding: its line only
    semgrep = _finding(sink, rule="keel.tainted-path", category="security", sources=("semgrep",))
    assert classes.place(semgrep) == "introduced"
    both = _finding(sink, rule="B999", category="security", sources=("bandit", "semgrep"))
    assert classes.place(both) == "introduced"  # merged with semgrep's: judged as a flow
    bandit = _finding(sink, rule="B999", category="security", sources=("bandit",))
    assert classes.place(bandit) == "context"  # bandit alone: by its line
    # the same rule in a function the change does not touch stays pre-existing
    far = _line(after, "def step_10") + 3
    assert classes.place(_finding(far, category="security", sources=("semgrep",))) == (
        "pre-existing"
    )


def test_a_removed_sanitizer_completes_the_flow(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "repo")
    pad = "".join(f"def pad_{i}():\n    return {i}\n\n\n" for i in range(10))
    before = (
        "import os\nimport sys\n\n\n"
        + pad
        + "def serve():\n    name = sys.argv[1]\n    name = os.path.basename(name)\n"
        + "    other = 1\n    more = 2\n    again = 3\n    return open(name)\n"
    )
    commit_files(root, {"app.py": before}, "base")
    after = before.replace("    name = os.path.basename(name)\n", "")
    classes = _classifier_for(root, "app.py", after)
    sink = _line(after, "return open(name)")
    flow = _finding(sink, file="app.py", category="security", sources=("semgrep",))
    assert classes.place(flow) == "introduced"
    assert classes.place(_finding(sink, file="app.py")) == "pre-existing"  # 4 lines below


def _classifier_for(root: Path, file: str, after: str) -> Classifier:
    commit_files(root, {file: after}, "change")
    return Classifier(changed_lines(git.unified_diff(root, rev="HEAD~1..HEAD")), root)


def test_module_level_flows_and_files_that_do_not_parse(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "repo")
    body = "".join(f"def f{i}():\n    return {i}\n\n\n" for i in range(8))
    before = "import sys\n\nname = 'x'\n\n\n" + body + "open(name)\n"
    commit_files(root, {"top.py": before, "broken.py": "def (:\n" + "x = 1\n" * 20}, "base")
    after = before.replace("name = 'x'", "name = sys.argv[1]")
    broken = "def (:\n" + "x = 1\n" * 19 + "y = 2\n"
    commit_files(root, {"top.py": after, "broken.py": broken}, "change")
    classes = Classifier(changed_lines(git.unified_diff(root, rev="HEAD~1..HEAD")), root)
    sink = _line(after, "open(name)")
    flow = _finding(sink, file="top.py", category="security", sources=("semgrep",))
    assert classes.place(flow) == "introduced"  # the module's own statements hold the source
    inside = _finding(_line(after, "return 3"), file="top.py", sources=("semgrep",))
    assert classes.place(inside) == "pre-existing"  # a function the change does not touch
    assert classes.place(_finding(2, file="broken.py", sources=("semgrep",))) == "pre-existing"


def test_tool_evidence_and_copies(repo: Path) -> None:
    after = _module(step_40="    total = eval(value)\n")
    classes = _classifier(repo, after)
    evidence = ToolEvidence(
        id="e1",
        specialist="security",
        tool="bandit",
        rule="B307",
        file="lib.py",
        line=_line(after, "eval(value)"),
        end_line=_line(after, "eval(value)"),
        severity="medium",
        category="security",
        message="m",
        code="c",
        confidence=0.9,
    )
    (classified,) = classes.evidence([evidence])
    assert classified["diff"] == "introduced" and "diff" not in evidence
    (finding,) = classes.findings([_finding(1)])
    assert finding["diff"] == "pre-existing"


# ------------------------------------------------------------------------ the filter


def test_each_filter_shows_its_classes() -> None:
    assert set(SHOWN_BY) == set(DIFF_FILTERS)
    items = [_finding(n, diff=c) for n, c in enumerate(DIFF_CLASSES, 1)]
    unclassed = _finding(99)
    expected = {
        "added": ["introduced"],
        "diff_context": ["introduced", "context"],
        "file": ["introduced", "context", "pre-existing"],
        "all": ["introduced", "context", "pre-existing", "outside"],
    }
    for diff_filter, classes in expected.items():
        got = shown([*items, unclassed], diff_filter)  # type: ignore[arg-type]
        assert [f.get("diff") for f in got] == [*classes, None]
        assert shows(unclassed, diff_filter)  # type: ignore[arg-type]
    assert shown(items, None) == items


def test_the_filter_applies_to_reviews_only() -> None:
    review = {"task": {"mode": "review"}, "diff_lines": {}}
    assert active_filter(review, "file") == "file"
    assert active_filter({"task": {"mode": "audit"}, "diff_lines": None}, "added") is None
    assert active_filter({"task": {"mode": "review"}}, "added") is None  # an older thread


def test_settings_and_context_validate_the_filter() -> None:
    assert Settings.load(env={}, dotenv=Path("/nonexistent")).diff_filter == "added"
    settings = Settings.load(env={"KEEL_DIFF_FILTER": "File"}, dotenv=Path("/nonexistent"))
    assert settings.run_context().diff_filter == "file"
    with pytest.raises(SettingsError, match="KEEL_DIFF_FILTER='nofilter' is not one of"):
        Settings.load(env={"KEEL_DIFF_FILTER": "nofilter"}, dotenv=Path("/nonexistent"))
    with pytest.raises(ValueError, match="diff_filter must be one of"):
        KeelContext(diff_filter="everything")  # type: ignore[arg-type]
    assert KeelContext.from_dict({}).diff_filter == "added"  # a thread saved before it


# ------------------------------------------------------------------------- triggers


def _triggers(findings: list[Finding], diff_filter: str = "added", **kw: Any) -> list[str]:
    return check_review_triggers(
        findings=findings,
        actions=[],
        handoffs=[],
        thread_id="t",
        context=KeelContext(diff_filter=diff_filter),  # type: ignore[arg-type]
        **kw,
    )


def test_pre_existing_findings_never_trigger_review() -> None:
    old_high = _finding(3, severity="critical", category="security", diff="pre-existing")
    near = _finding(4, severity="high", category="security", diff="context")
    sensitive = _finding(5, file="auth/keys.py", diff="pre-existing")
    context = KeelContext(guards=KeelContext().guards)
    assert context.guards.sensitive_paths  # the default globs include auth paths
    assert _triggers([old_high, near, sensitive]) == []
    assert _triggers([old_high], diff_filter="file") == ["rule: 1 finding(s) at or above high"]
    assert _triggers([near], diff_filter="diff_context") == ["rule: 1 finding(s) at or above high"]
    new_high = _finding(9, severity="high", category="security", diff="introduced")
    assert _triggers([old_high, new_high]) == ["rule: 1 finding(s) at or above high"]
    assert _triggers([_finding(3, severity="high")]) == ["rule: 1 finding(s) at or above high"]


def test_dismissed_pre_existing_evidence_is_no_trigger_but_the_tripwire_is() -> None:
    dismissed = ToolEvidence(
        id="e",
        specialist="security",
        tool="bandit",
        rule="B602",
        file="lib.py",
        line=3,
        end_line=3,
        severity="high",
        category="security",
        message="m",
        code="c",
        confidence=0.9,
        status="dismissed",
        reason="r",
        diff="pre-existing",
    )
    assert _triggers([], evidence=[dismissed]) == []
    assert len(_triggers([], evidence=[{**dismissed, "diff": "introduced"}])) == 1
    # the model read the whole file: text addressed to it triggers wherever it is
    tripwire = _finding(3, rule=RULE, category="security", severity="medium", diff="pre-existing")
    (trigger,) = _triggers([tripwire])
    assert trigger.startswith("rule: text addressed to an automated reviewer")


# --------------------------------------------------------------------- report, SARIF


def _state(findings: list[Finding]) -> dict[str, Any]:
    return {
        "task": {"goal": "g", "repo": "/r", "mode": "review", "rev_range": "a..b"},
        "scope": ["lib.py"],
        "findings": findings,
        "status": "awaiting_approval",
    }


def _classed() -> list[Finding]:
    return [
        _finding(40, rule="B307", category="security", severity="high", diff="introduced"),
        _finding(38, rule="E1", diff="context"),
        *(_finding(n, rule=f"F{n}", diff="pre-existing") for n in (2, 3, 4)),
        _finding(1, file="other.py", rule="O1", diff="outside"),
    ]


def test_the_report_lists_the_change_and_collapses_the_rest() -> None:
    report = render_report(_state(_classed()), thread_id="t", model_label="m", diff_filter="added")
    data, markdown = report["data"], report["markdown"]
    assert [f["rule"] for f in data["shown"]] == ["B307"]
    assert len(data["findings"]) == 6  # the data keeps every finding, with its class
    assert data["counts"]["high"] == 1 and sum(data["counts"].values()) == 1
    assert data["diff_counts"] == {"introduced": 1, "context": 1, "pre-existing": 3, "outside": 1}
    listed, _, collapsed = markdown.partition("<details>")
    assert "### [HIGH] B307 at 40" in listed and "F2 at 2" not in listed
    assert "- **Diff filter:** `added`" in listed
    summary = collapsed.split("</summary>")[0]
    assert "1 in the diff's context, 3 pre-existing, 1 in a file the change does not touch" in (
        summary
    )
    assert collapsed.count("\n- [") == 5 and "</details>" in collapsed

    wide = render_report(_state(_classed()), thread_id="t", model_label="m", diff_filter="file")
    assert [f["rule"] for f in wide["data"]["shown"]] == ["B307", "F2", "F3", "F4", "E1"]
    assert "· pre-existing" in wide["markdown"].partition("<details>")[0]


def test_an_audit_report_lists_everything_without_a_filter() -> None:
    state = _state([_finding(n, rule=f"F{n}") for n in (1, 2)]) | {"task": {"mode": "audit"}}
    data = render_report(state, thread_id="t", model_label="m")["data"]
    assert data["shown"] == data["findings"] and data["diff_filter"] is None
    assert data["diff_counts"] == {}


def test_merged_findings_keep_the_place_nearest_the_change() -> None:
    pair = [
        _finding(40, rule="B307", category="security", diff="pre-existing"),
        {**_finding(40, rule="S307", category="security", diff="introduced"), "id": "other"},
    ]
    data = render_report(_state(pair), thread_id="t", model_label="m", diff_filter="added")["data"]
    assert [f["diff"] for f in data["shown"]] == ["introduced"]


def test_sarif_excludes_what_the_filter_hides_unless_asked() -> None:
    data = render_report(_state(_classed()), thread_id="t", model_label="m", diff_filter="added")
    run = to_sarif(data["data"])["runs"][0]
    assert [r["ruleId"] for r in run["results"]] == ["B307"]
    assert run["results"][0]["properties"]["diff"] == "introduced"
    assert run["properties"]["diff_filter"] == "added"
    everything = render_report(
        _state(_classed()), thread_id="t", model_label="m", diff_filter="all"
    )
    assert len(to_sarif(everything["data"])["runs"][0]["results"]) == 6
    older = {k: v for k, v in data["data"].items() if k != "shown"}  # a report before `shown`
    assert len(to_sarif(older)["runs"][0]["results"]) == 6


def test_the_review_packet_carries_what_the_filter_shows() -> None:
    findings = _classed()
    state = _state(findings) | {
        "report": render_report(
            _state(findings), thread_id="t", model_label="m", diff_filter="added"
        )
    }
    packet = build_review_request(state, ["rule: 1 finding(s) at or above high"])["packet"]
    assert [e["line"] for e in packet["evidence"]] == [40]
    assert packet["diff"]["filter"] == "added"
    assert packet["diff"]["counts"]["pre-existing"] == 3


# ------------------------------------------------------- the compiled graph, scripted


@tool
def scan(paths: list[str]) -> str:
    """Scan the files."""
    return json.dumps({"issues": [], "scanned": paths})


SEC = SpecialistSpec(name="sec", area="security", description="d", handles=("*.py",), tools=(scan,))


def _scripted(findings: list[dict[str, Any]]) -> ScriptedChatModel:
    plan = {"assignments": [{"specialist": "sec", "files": ["lib.py"], "instructions": "x"}]}
    submit = {"findings": findings, "summary": "done", "confidence": 0.9}
    return ScriptedChatModel(
        responses=[
            AIMessage(
                "", tool_calls=[{"name": "Plan", "args": plan | {"rationale": "r"}, "id": "p"}]
            ),
            AIMessage("", tool_calls=[{"name": "submit_findings", "args": submit, "id": "s"}]),
        ]
    )


@pytest.mark.parametrize("diff_filter", ["added", "file"])
def test_the_graph_reports_the_change_and_gates_on_it(repo: Path, diff_filter: str) -> None:
    after = _module(step_40="    total = value == None\n")
    commit_files(repo, {"lib.py": after}, "change")
    old = _line(after, "def step_10") + 3  # `return open(name)` of step_10, untouched
    new = _line(after, "value == None")
    submitted = [
        {"file": "lib.py", "line": old, "severity": "high", "category": "security",
         "rule": "open", "title": "file path from a parameter", "evidence": "x", "confidence": 0.9},
        {"file": "lib.py", "line": new, "severity": "low", "category": "security",
         "rule": "none-cmp", "title": "comparison to None", "evidence": "x", "confidence": 0.9},
    ]  # fmt: skip
    model = _scripted(submitted)
    graph = build_pipeline([SEC], lambda _id: model).compile(
        checkpointer=InMemorySaver(), store=InMemoryStore()
    )
    config: Any = {"configurable": {"thread_id": f"df-{diff_filter}"}}
    context = KeelContext(diff_filter=diff_filter)  # type: ignore[arg-type]
    graph.invoke({"repo": str(repo)}, config, context=context)
    snap = graph.get_state(config)
    places = {f["rule"]: f["diff"] for f in snap.values["findings"]}
    assert places == {"open": "pre-existing", "none-cmp": "introduced"}
    (interrupt,) = snap.interrupts
    triggers = interrupt.value["packet"]["triggers"]
    data = snap.values["report"]["data"]
    if diff_filter == "added":
        assert triggers == ["rule: side effect proposed (publish_review)"]
        assert [f["rule"] for f in data["shown"]] == ["none-cmp"]
        assert "1 pre-existing finding(s)" in snap.values["report"]["markdown"]
    else:
        assert triggers[1:] == ["rule: 1 finding(s) at or above high"]
        assert [f["rule"] for f in data["shown"]] == ["open", "none-cmp"]
    result = graph.invoke(
        Command(resume={"decisions": [{"type": "reject", "message": "no"}]}),
        config,
        context=context,
    )
    assert result["status"] == "done"
    final = result["report"]["data"]
    assert final["diff_filter"] == diff_filter and len(final["findings"]) == 2
    model.assert_complete()
