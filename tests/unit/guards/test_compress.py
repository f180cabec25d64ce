"""Context compressor: the check, the cut, `fold()` and the `compress` node, directly."""

from __future__ import annotations

import json
from typing import Any, cast

import pytest
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    RemoveMessage,
    ToolMessage,
)
from langchain_core.messages.utils import count_tokens_approximately
from langgraph.graph.message import REMOVE_ALL_MESSAGES, add_messages

from keel.nodes.guards._verdict import Verdict
from keel.nodes.guards.base import guard_node
from keel.nodes.guards.compress import COMPRESS, NOTES_FENCE, check_before_model_call, fold
from keel.nodes.guards.policy import GuardPolicy

from ._state import AGENT, ai, opening, turn

BIG = "x" * 400


def _channel() -> list[BaseMessage]:
    """Opening + turns with parallel calls, so cuts can land on ToolMessages.

    0 system, 1 task, 2 AI(2 calls), 3 T, 4 T, 5 AI, 6 T, 7 AI(2 calls), 8 T, 9 T, 10 AI, 11 T
    """
    return [
        *opening(),
        *turn([("read_file", {"path": "a.py"}), ("grep", {"q": "x"})], [BIG, BIG], prefix="a"),
        *turn([("ruff", {"path": "a.py"})], [BIG], prefix="b"),
        *turn([("read_file", {"path": "b.py"}), ("grep", {"q": "y"})], [BIG, BIG], prefix="c"),
        *turn([("bandit", {"path": "b.py"})], [BIG], prefix="d"),
    ]


def _policy(messages: list[BaseMessage], keep_last: int, slack: int = 0) -> GuardPolicy:
    threshold = count_tokens_approximately(messages) + slack
    return GuardPolicy(compress_at_tokens=threshold, compress_keep_last=keep_last)


def _pairs_intact(messages: list[BaseMessage]) -> bool:
    """Every ToolMessage follows its call, and every call has its ToolMessage."""
    calls = {c["id"] for m in messages if isinstance(m, AIMessage) for c in m.tool_calls}
    answered = {m.tool_call_id for m in messages if isinstance(m, ToolMessage)}
    return calls == answered


# ---------------------------------------------------------------------------- check


def test_below_threshold_is_ok() -> None:
    messages = _channel()
    assert not check_before_model_call(messages, _policy(messages, 4, slack=1)).fired


def test_at_threshold_compresses_with_the_cut() -> None:
    messages = _channel()
    tokens = count_tokens_approximately(messages)
    verdict = check_before_model_call(messages, _policy(messages, 4))
    assert (verdict.guard, verdict.action) == ("compress", "compress")
    # len 12 - keep 4 = 8 is a ToolMessage (and 7's call): the cut moves back to 7
    after = verdict.detail["after_tokens"]
    assert verdict.detail == {
        "tokens": tokens,
        "cut": 7,
        "summary_tokens": tokens // 8,
        "goal_tokens": tokens - count_tokens_approximately(messages[10:]),  # room for a turn
        "limit_tokens": tokens,
        "after_tokens": after,
    }
    assert after < verdict.detail["goal_tokens"]  # folding alone got there: nothing cut
    assert verdict.reason == (
        f"context {tokens} tokens (limit {tokens}); folding 5 of 12 messages; {after} tokens after"
    )


def test_short_channel_is_never_compressed() -> None:
    messages = [*opening(), *(HumanMessage(BIG) for _ in range(6))]  # opening + keep_last
    policy = GuardPolicy(compress_at_tokens=1, compress_keep_last=6)
    assert not check_before_model_call(messages, policy).fired
    verdict = check_before_model_call([*messages, HumanMessage("more")], policy)
    assert verdict.detail["cut"] == 3


def test_nothing_foldable_when_the_tail_is_one_long_tool_turn() -> None:
    calls = [("read_file", {"path": f"f{i}.py"}) for i in range(8)]
    messages = [*opening(), *turn(calls, [BIG] * 8, prefix="p")]
    policy = GuardPolicy(compress_at_tokens=1, compress_keep_last=3)
    assert not check_before_model_call(messages, policy).fired


@pytest.mark.parametrize("keep_last", range(2, 8))
def test_cut_never_leaves_a_tool_message_first(keep_last: int) -> None:
    messages = _channel()
    policy = GuardPolicy(compress_at_tokens=1, compress_keep_last=keep_last)
    verdict = check_before_model_call(messages, policy)
    assert verdict.fired
    cut = verdict.detail["cut"]
    assert 2 < cut <= len(messages) - keep_last
    assert not isinstance(messages[cut], ToolMessage)
    assert _pairs_intact(messages[cut:])
    assert _pairs_intact(messages[2:cut])


@pytest.mark.parametrize("keep_last", [8, 9])
def test_no_compression_when_the_only_cut_would_split_the_first_turn(keep_last: int) -> None:
    # 12 - 8 = 4 and 12 - 9 = 3 are the first turn's ToolMessages: the cut backs up to 2
    messages = _channel()
    policy = GuardPolicy(compress_at_tokens=1, compress_keep_last=keep_last)
    assert not check_before_model_call(messages, policy).fired


# ----------------------------------------------------------------------------- fold


def _notes(summary: str) -> dict[str, Any]:
    start = summary.index(f"```{NOTES_FENCE}\n") + len(NOTES_FENCE) + 4
    data: dict[str, Any] = json.loads(summary[start : summary.index("\n```", start)])
    return data


def _issues_result(call_id: str, name: str, issues: list[dict[str, Any]]) -> ToolMessage:
    return ToolMessage(json.dumps({"issues": issues}), tool_call_id=call_id, name=name)


def _issue(file: str, line: int, rule: str = "B602", **extra: Any) -> dict[str, Any]:
    return {"tool": "bandit", "rule": rule, "file": file, "line": line, "message": "m", **extra}


def test_fold_keeps_every_issue_and_the_called_tools() -> None:
    folded: list[BaseMessage] = [
        ai([("bandit", {"path": "a.py"}), ("ruff", {"path": "a.py"})], prefix="f"),
        _issues_result("f0", "bandit", [_issue("a.py", 3), _issue("a.py", 9, "B105")]),
        _issues_result("f1", "ruff", [_issue("a.py", 1, "F401", junk="dropped"), "not a dict"]),  # type: ignore[list-item]
    ]
    summary = fold("", folded)
    assert summary.startswith("Summary of earlier work (older messages were compressed):\n")
    assert "- bandit: 2 issue(s) recorded below" in summary
    assert "- ruff: 2 issue(s) recorded below" in summary
    notes = _notes(summary)
    assert notes["called"] == ["bandit", "ruff"]
    assert [(i["file"], i["line"], i["rule"]) for i in notes["issues"]] == [
        ("a.py", 3, "B602"),
        ("a.py", 9, "B105"),
        ("a.py", 1, "F401"),
    ]
    assert set(notes["issues"][0]) == {
        "tool",
        "rule",
        "file",
        "line",
        "end_line",
        "severity",
        "category",
        "message",
        "code",
        "confidence",
    }


def test_fold_records_text_results_model_text_and_notes() -> None:
    folded: list[BaseMessage] = [
        ai([("read_file", {"path": "a.py"})], prefix="r", content="  Let me read a.py. "),
        ToolMessage("line 1\nline 2", tool_call_id="r0", name="read_file"),
        HumanMessage("Keel loop guard: stop repeating."),
        HumanMessage("Summary of earlier work (older messages were compressed):\n- old"),
    ]
    summary = fold("", folded)
    body = summary.split(f"```{NOTES_FENCE}")[0]
    assert body.splitlines()[1:] == [
        "- you said: Let me read a.py.",
        "- read_file: line 1 (13 chars)",  # a one-line digest: first line and size
        "- note: Keel loop guard: stop repeating.",
    ]
    assert _notes(summary) == {"called": ["read_file"], "issues": []}


def test_fold_carries_forward_the_previous_summary() -> None:
    first = fold(
        "",
        [
            ai([("bandit", {"path": "a.py"})], prefix="f"),
            _issues_result("f0", "bandit", [_issue("a.py", 3)]),
        ],
    )
    second = fold(
        first,
        [
            ai([("ruff", {"path": "b.py"})], prefix="g"),
            _issues_result("g0", "ruff", [_issue("b.py", 7, "E501")]),
        ],
    )
    notes = _notes(second)
    assert notes["called"] == ["bandit", "ruff"]
    assert [(i["file"], i["line"]) for i in notes["issues"]] == [("a.py", 3), ("b.py", 7)]
    assert "- bandit: 1 issue(s) recorded below" in second
    assert "- ruff: 1 issue(s) recorded below" in second
    assert second.count(f"```{NOTES_FENCE}") == 1


def test_fold_starts_fresh_from_a_summary_with_broken_notes() -> None:
    summary = fold(f"- old line\n```{NOTES_FENCE}\n{{not json\n```", [])
    assert _notes(summary) == {"called": [], "issues": []}
    assert "- old line" in summary


def test_fold_caps_sizes() -> None:
    many = [_issue("a.py", i) for i in range(450)]
    folded: list[BaseMessage] = [
        ai([("bandit", {})], prefix="m", content="y" * 500),
        _issues_result("m0", "bandit", many),
        *(ToolMessage("z" * 500, tool_call_id=f"t{i}", name=f"tool{i}") for i in range(70)),
    ]
    summary = fold("", folded)
    notes = _notes(summary)
    assert len(notes["issues"]) == 400
    assert notes["issues"][0]["line"] == 50  # the newest 400 are kept
    lines = [ln for ln in summary.splitlines() if ln.startswith("- ")]
    # 72 prose lines (you said, bandit, 70 tools): the 12 oldest dropped and counted
    assert len(lines) == 61
    assert lines[0] == "- (12 older lines dropped)"
    assert lines[-1] == "- tool69: " + "z" * 99 + "… (500 chars)"
    assert "- you said: " + "y" * 99 + "…\n" in fold("", folded[:1])


def test_fold_keeps_issues_whose_text_contains_a_code_fence() -> None:
    first = fold(
        "",
        [_issues_result("f0", "semgrep", [_issue("a.py", 3, message="use ```yaml.safe_load```")])],
    )
    second = fold(first, [_issues_result("g0", "ruff", [_issue("b.py", 7)])])
    block = second.split(f"```{NOTES_FENCE}\n")[1].rsplit("\n```", 1)[0]
    assert [i["line"] for i in json.loads(block)["issues"]] == [3, 7]  # today: [7]


# ----------------------------------------------------------------------------- node


def test_node_rebuilds_the_channel_around_the_cut() -> None:
    messages = _channel()
    verdict = check_before_model_call(messages, _policy(messages, 4))
    state = {"messages": messages, "summary": "", "verdict": verdict.pending()}
    command = guard_node(COMPRESS, AGENT, model_node="model")(state)
    assert command.goto == "model"
    update = command.update
    rebuilt = update["messages"]
    assert isinstance(rebuilt[0], RemoveMessage) and rebuilt[0].id == REMOVE_ALL_MESSAGES
    assert rebuilt[1:3] == messages[:2]
    summary = rebuilt[3]
    assert isinstance(summary, HumanMessage)
    budget = verdict.detail["summary_tokens"]
    assert summary.content == fold("", messages[2:7], budget)
    assert "summary" not in update  # the summary lives in the channel only
    assert rebuilt[4:] == messages[7:]
    assert _pairs_intact(rebuilt[4:])
    assert update["verdict"] is None
    (recorded,) = update["guard_events"]
    assert (recorded["guard"], recorded["verdict"], recorded["agent"]) == (
        "compress",
        "compress",
        AGENT,
    )
    assert recorded["reason"] == verdict.reason
    # through the channel's reducer: opening, summary, tail
    channel = add_messages(messages, rebuilt)
    assert [m.content for m in channel] == [
        *(m.content for m in messages[:2]),
        summary.content,
        *(m.content for m in messages[7:]),
    ]


def test_node_folds_the_previous_summary_message_into_the_new_one() -> None:
    older = [ai([("bandit", {})], prefix="o"), _issues_result("o0", "bandit", [_issue("z.py", 1)])]
    previous = fold("", older)
    messages = [*opening(), HumanMessage(previous), *_channel()[2:]]
    verdict = Verdict("compress", "compress", "r", {"tokens": 1, "cut": 8})
    state = {"messages": messages, "summary": previous, "verdict": verdict.pending()}
    command = guard_node(COMPRESS, AGENT)(state)
    summary = command.update["messages"][3].content
    assert summary.count("Summary of earlier work") == 1
    assert [i["file"] for i in _notes(summary)["issues"]] == ["z.py"]
    assert _notes(summary)["called"] == ["bandit", "grep", "read_file", "ruff"]


def test_node_without_verdict_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="compress guard entered without a verdict"):
        guard_node(COMPRESS, AGENT)({"messages": []})


# --------------------------------------------------------------------------- budget


def _prose(summary: str) -> list[str]:
    return [ln for ln in summary.split(f"```{NOTES_FENCE}")[0].splitlines() if ln.startswith("- ")]


def _noise(prefix: str, n: int) -> list[BaseMessage]:
    """`n` tool turns whose results carry no issues (~200 characters each)."""
    out: list[BaseMessage] = []
    for i in range(n):
        out.append(ai([("lookup", {"q": f"{prefix}{i}"})], prefix=f"{prefix}{i}_"))
        out.append(
            ToolMessage(
                f"result {prefix}{i}: " + "x" * 190, tool_call_id=f"{prefix}{i}_0", name="lookup"
            )
        )
    return out


def test_default_budget_is_an_eighth_of_the_threshold_unless_set() -> None:
    from keel.nodes.guards.compress import summary_budget

    assert summary_budget(GuardPolicy(compress_at_tokens=2000)) == 250
    assert summary_budget(GuardPolicy(compress_at_tokens=2000, compress_summary_tokens=90)) == 90
    assert summary_budget(GuardPolicy(compress_at_tokens=3)) == 1
    with pytest.raises(ValueError, match="compress_summary_tokens must not be negative"):
        GuardPolicy(compress_summary_tokens=-1)


def test_budget_drops_oldest_prose_and_counts_it_across_folds() -> None:
    budget = 120
    summary = ""
    for round_ in range(4):
        summary = fold(summary, _noise(f"r{round_}", 10), budget)
        assert count_tokens_approximately([HumanMessage(summary)]) <= budget + 5
    prose = _prose(summary)
    total = 40  # tool results folded over four rounds
    (dropped,) = (int(ln.split("(")[1].split()[0]) for ln in prose if "older line" in ln)
    assert dropped + len(prose) - 1 == total  # every line is either kept or counted
    assert prose[-1].startswith("- lookup: result r39: ")  # the newest line survives


def test_issues_are_kept_even_when_they_exceed_the_budget() -> None:
    facts = [_issue(f"src/m{i}.py", i, f"K{i}") for i in range(30)]
    folded: list[BaseMessage] = [
        *_noise("a", 5),
        ai([("bandit", {})], prefix="f"),
        _issues_result("f0", "bandit", facts),
        *_noise("b", 5),
    ]
    summary = fold("", folded, budget_tokens=50)
    assert [(i["file"], i["rule"]) for i in _notes(summary)["issues"]] == [
        (f"src/m{i}.py", f"K{i}") for i in range(30)
    ]
    assert _notes(summary)["called"] == ["bandit", "lookup"]
    # the prose had no room at all: every line is dropped, and counted
    assert _prose(summary) == ["- (11 older lines dropped)"]


def test_bounded_summary_stays_small_over_a_long_thread() -> None:
    """Fifty folds of ten noise turns each: the summary does not grow with the thread."""
    summary = fold("", _noise("s", 10), 250)
    first = len(summary)
    for round_ in range(50):
        summary = fold(summary, _noise(f"t{round_}_", 10), 250)
    assert len(summary) <= max(first, 250 * 4) + 10
    prose = _prose(summary)
    dropped = int(prose[0].split("(")[1].split()[0])
    assert dropped + len(prose) - 1 == 510  # nothing vanishes uncounted


def test_node_applies_the_budget_from_the_verdict() -> None:
    messages = [*opening(), *_noise("n", 20)]
    policy = GuardPolicy(compress_at_tokens=1, compress_keep_last=2, compress_summary_tokens=60)
    verdict = check_before_model_call(messages, policy)
    assert verdict.detail["summary_tokens"] == 60
    state = {"messages": messages, "summary": "", "verdict": verdict.pending()}
    summary = guard_node(COMPRESS, AGENT)(state).update["messages"][3].content
    assert count_tokens_approximately([HumanMessage(summary)]) <= 65
    assert summary == fold("", messages[2 : verdict.detail["cut"]], 60)


def test_node_reads_the_previous_summary_from_the_channel_not_the_state_key() -> None:
    older = [ai([("bandit", {})], prefix="o"), _issues_result("o0", "bandit", [_issue("z.py", 1)])]
    previous = fold("", older)
    messages = [*opening(), HumanMessage(previous), *_channel()[2:]]
    verdict = Verdict("compress", "compress", "r", {"tokens": 1, "cut": 8})
    # a stale key is ignored while the channel holds a summary message ...
    state = {"messages": messages, "summary": "stale", "verdict": verdict.pending()}
    summary = guard_node(COMPRESS, AGENT)(state).update["messages"][3].content
    assert [i["file"] for i in _notes(summary)["issues"]] == ["z.py"]
    # ... and used for an older thread whose summary message was already folded away
    legacy = {"messages": _channel(), "summary": previous, "verdict": verdict.pending()}
    summary = guard_node(COMPRESS, AGENT)(legacy).update["messages"][3].content
    assert [i["file"] for i in _notes(summary)["issues"]] == ["z.py"]


# --------------------------------------------------------------- huge messages (cut)

LIMIT = GuardPolicy().compress_at_tokens  # 12,000: the default the black-box run used


def _text(n: int, seed: str = "t") -> str:
    """`n` characters whose head and tail are recognisable."""
    body = f"<{seed}-head>" + "." * n
    return body[: n - len(f"<{seed}-tail>")] + f"<{seed}-tail>"


def _compress(
    messages: list[BaseMessage], policy: GuardPolicy | None = None
) -> tuple[Verdict, list[BaseMessage]]:
    """Check, run the node, and apply its update with the channel's reducer."""
    policy = policy or GuardPolicy()
    verdict = check_before_model_call(messages, policy)
    assert verdict.fired, "the check must fire"
    state = {"messages": messages, "summary": "", "verdict": verdict.pending()}
    update = guard_node(COMPRESS, AGENT)(state).update
    channel = cast(list[BaseMessage], add_messages(cast(Any, messages), update["messages"]))
    assert update["messages"][0] == RemoveMessage(id=REMOVE_ALL_MESSAGES)
    (recorded,) = update["guard_events"]
    assert recorded["reason"] == verdict.reason
    return verdict, channel


def _with_ids(messages: list[BaseMessage]) -> list[BaseMessage]:
    """The messages with the ids LangGraph stamps on everything written to the channel."""
    return [m.model_copy(update={"id": f"m{i}"}) for i, m in enumerate(messages)]


def _protocol_intact(messages: list[BaseMessage]) -> bool:
    """Each AI message with calls is followed directly by one result per call, in order."""
    for index, message in enumerate(messages):
        if isinstance(message, AIMessage) and message.tool_calls:
            results = messages[index + 1 : index + 1 + len(message.tool_calls)]
            if [getattr(m, "tool_call_id", None) for m in results] != [
                c["id"] for c in message.tool_calls
            ]:
                return False
        if isinstance(message, ToolMessage):
            before = messages[:index]
            calls = [m for m in before if isinstance(m, AIMessage) and m.tool_calls]
            if not calls or message.tool_call_id not in {c["id"] for c in calls[-1].tool_calls}:
                return False
    return True


def test_a_30k_token_tool_result_is_cut_under_the_threshold_in_one_compression() -> None:
    huge = _text(120_000, "file")  # 30,000 tokens against the 12,000 limit
    messages = _with_ids([*opening(), *turn([("read_file", {"path": "a.py"})], [huge], prefix="r")])
    before = count_tokens_approximately(messages)
    verdict, channel = _compress(messages)
    after = count_tokens_approximately(channel)
    assert before > 30_000 and after < LIMIT  # one compression is enough
    assert verdict.detail["after_tokens"] == after
    assert verdict.detail["cut"] == 2  # nothing to fold: the turn is all there is
    # the result was not read yet: cut only as far as the limit needs, not to the goal
    assert verdict.detail["goal_tokens"] == LIMIT // 4 <= after
    assert verdict.reason == (
        f"context {before} tokens (limit {LIMIT}); folding 0 of 4 messages, cutting 1 "
        f"({len(huge) - len(str(channel[3].content))} characters); {after} tokens after"
    )
    assert channel[:3] == messages[:3]
    result = channel[3]
    assert isinstance(result, ToolMessage) and isinstance(result.content, str)
    assert (result.id, result.tool_call_id, result.name) == ("m3", "r0", "read_file")
    assert result.content.startswith("<file-head>") and result.content.endswith("<file-tail>")
    kept = len(result.content) - len(result.content.split("\n\n")[1]) - 4
    note = f"[keel: cut {120_000 - kept:,} of 120,000 characters from this tool result]"
    assert f"\n\n{note}\n\n" in result.content
    assert not check_before_model_call(channel, GuardPolicy()).fired  # no compress loop


def test_an_oversized_reply_is_cut_to_leave_room_for_a_turn_like_it() -> None:
    """A model writing ~7,500 tokens a turn: its replies are cut, the calls untouched."""
    replies = [
        ai([("grep", {"q": f"p{i}"})], prefix=f"g{i}_", content=_text(30_000, f"r{i}"))
        for i in range(2)
    ]
    messages = _with_ids(
        [
            *opening(),
            replies[0],
            ToolMessage("no match", tool_call_id="g0_0", name="grep"),
            replies[1],
            ToolMessage("no match", tool_call_id="g1_0", name="grep"),
        ]
    )
    newest = count_tokens_approximately(messages[4:])
    verdict, channel = _compress(messages)
    after = count_tokens_approximately(channel)
    assert after < verdict.detail["goal_tokens"] == LIMIT - newest  # read: cut to the goal
    assert after + newest < LIMIT  # the next turn of the same size fits
    assert [m.id for m in channel] == [m.id for m in messages]
    for i in (2, 4):
        reply = channel[i]
        assert isinstance(reply, AIMessage) and isinstance(reply.content, str)
        assert reply.tool_calls == messages[i].tool_calls  # type: ignore[attr-defined]
        assert reply.content.startswith(f"<r{i // 2 - 1}-head>")
        assert "characters from this reply]" in reply.content
    assert channel[3] == messages[3] and channel[5] == messages[5]  # small results kept


def test_json_tool_result_stays_json_with_its_issues_and_short_values_whole() -> None:
    issues = [_issue("a.py", i, fixable=True) for i in range(1, 4)]
    tests = [f"tests/test_{i:05}.py" for i in range(2_000)]
    payload = {
        "issues": issues,
        "count": 3,
        "content": _text(90_000, "src"),
        "tests": tests,
        "truncated": False,
    }
    messages = [*opening(), ai([("bandit", {})], prefix="b"), _issues_result("b0", "bandit", [])]
    messages[3] = ToolMessage(json.dumps(payload), tool_call_id="b0", name="bandit")
    _, channel = _compress(messages)
    assert count_tokens_approximately(channel) < LIMIT
    data = json.loads(str(channel[3].content))
    assert data["issues"] == issues  # whole, extra keys and all
    assert (data["count"], data["truncated"]) == (3, False)
    assert data["content"].startswith("<src-head>") and data["content"].endswith("<src-tail>")
    assert "characters from this value]" in data["content"]
    kept = len(data["tests"])
    assert 0 < kept < 2_000 and data["tests"] == tests[:kept]
    assert data["keel_cut"].startswith("[keel: cut ")
    assert data["keel_cut"].endswith(
        f"characters from this tool result; 'tests' keeps its first {kept} items]"
    )
    # folded later, its issues still reach the summary's keel-notes
    assert [i["line"] for i in _notes(fold("", channel[2:4]))["issues"]] == [1, 2, 3]


def test_a_message_cut_again_counts_against_its_original_size() -> None:
    from keel.nodes.guards.compress import _excerpt  # the cut itself, twice

    once = _excerpt(_text(50_000, "x"), 2_000, "tool result")
    twice = _excerpt(once, 500, "tool result")
    assert once.startswith("<x-head>") and twice.startswith("<x-head>")
    assert twice.endswith("<x-tail>") and len(twice) < len(once)
    assert "\n\n[keel: cut 49,500 of 50,000 characters from this tool result]\n\n" in twice
    assert _excerpt(twice, 500, "tool result") == twice  # a cut to its size is a no-op


def test_cutting_keeps_the_opening_the_summary_and_the_protocol_intact() -> None:
    previous = fold("", [_issues_result("o0", "bandit", [_issue("z.py", 1)])])
    task = HumanMessage(_text(8_000, "task"))  # a long task: the anchor, never cut
    messages = _with_ids(
        [
            opening()[0],
            task,
            HumanMessage(previous),
            *turn(
                [("read_file", {"path": "a.py"}), ("read_file", {"path": "b.py"})],
                [_text(40_000, "a"), _text(40_000, "b")],
                prefix="p",
            ),
            HumanMessage(_text(30_000, "reviewer")),  # a reviewer's long response
            ai([("grep", {"q": "x"})], prefix="q", content=_text(20_000, "why")),
            ToolMessage(_text(40_000, "grep"), tool_call_id="q0", name="grep"),
        ]
    )
    _, channel = _compress(messages)
    assert count_tokens_approximately(channel) < LIMIT
    assert _protocol_intact(channel) and _pairs_intact(channel)
    assert channel[:3] == messages[:3]  # system prompt, task and summary whole
    assert [m.id for m in channel] == [m.id for m in messages]  # nothing folded or lost
    for old, new in zip(messages[3:], channel[3:], strict=True):
        assert type(new) is type(old)
        assert new.content == old.content or len(str(old.content)) > 1_000  # big ones cut
        if isinstance(old, AIMessage):
            assert new.tool_calls == old.tool_calls  # type: ignore[attr-defined]
        if isinstance(old, ToolMessage):
            assert (new.tool_call_id, new.name) == (old.tool_call_id, old.name)  # type: ignore[attr-defined]
    assert "characters from this message]" in str(channel[6].content)
    # what the model has read is cut first; the result it has not read keeps the most
    sizes = [len(str(m.content)) for m in channel[3:]]
    assert sizes[-1] > 10 * max(sizes[:-1])


def test_an_irreducible_channel_over_the_threshold_fires_once_then_not_next_turn() -> None:
    system = opening()[0]
    task = HumanMessage(_text(56_000, "task"))  # 14,000 tokens: the anchor alone is over
    messages = _with_ids(
        [system, task, *turn([("read_file", {"path": "a.py"})], [_text(40_000)], prefix="r")]
    )
    verdict, channel = _compress(messages)
    after = count_tokens_approximately(channel)
    opening_tokens = count_tokens_approximately(messages[:2])
    assert LIMIT < opening_tokens < after  # over the limit, and it says so with the numbers
    assert verdict.reason.endswith(
        f"; {after} tokens after, still over the limit (the opening alone is "
        f"{opening_tokens}; tool calls, issues and 400-character excerpts are kept); "
        f"not compressed again until that would save {LIMIT // 8}"
    )
    assert channel[1] == messages[1]  # the task whole
    assert len(str(channel[3].content)) < 600  # the result at its minimum excerpt
    # right after it (the model node checks again) and on the next, small turn: quiet
    assert not check_before_model_call(channel, GuardPolicy()).fired
    small = [*channel, *turn([("grep", {"q": "x"})], [_text(2_000, "g")], prefix="s")]
    assert not check_before_model_call(small, GuardPolicy()).fired
    # once the channel has grown by enough to save an eighth of the limit: once more
    grown = [*small, *turn([("grep", {"q": "y"})], [_text(30_000, "h")], prefix="u")]
    again, channel = _compress(grown)
    assert "still over the limit" in again.reason
    assert not check_before_model_call(channel, GuardPolicy()).fired


def test_small_messages_are_never_cut() -> None:
    messages = [*opening(), *turn([("read_file", {"path": "a.py"})], ["x" * 400], prefix="r")]
    policy = GuardPolicy(compress_at_tokens=1, compress_keep_last=2)  # nothing would fit
    assert not check_before_model_call(messages, policy).fired  # 400 characters: kept whole
