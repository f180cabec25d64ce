"""GuardPolicy validation and round trips; KeelContext; `KEEL_GUARD_*` settings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from keel.nodes.context import KeelContext
from keel.nodes.guards.policy import GuardPolicy
from keel.settings import Settings, SettingsError

CUSTOM = GuardPolicy(
    max_agent_steps=5,
    loop_window=4,
    budget_cost_usd=0.25,
    budget_soft_ratio=1.0,
    deadline_s=60.0,
    deadline_action="escalate",
    compress_keep_last=2,
    sensitive_paths=["*.pem", "infra/*"],  # type: ignore[arg-type]
)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("max_agent_steps", 0, "GuardPolicy.max_agent_steps must be at least 1, got 0"),
        ("loop_repeat_limit", 0, "GuardPolicy.loop_repeat_limit must be at least 1, got 0"),
        ("loop_window", -3, "GuardPolicy.loop_window must be at least 1, got -3"),
        ("max_repairs", 0, "GuardPolicy.max_repairs must be at least 1, got 0"),
        ("budget_soft_ratio", 0.0, "GuardPolicy.budget_soft_ratio must be in (0, 1], got 0.0"),
        ("budget_soft_ratio", 1.5, "GuardPolicy.budget_soft_ratio must be in (0, 1], got 1.5"),
        (
            "deadline_action",
            "stop",
            "GuardPolicy.deadline_action must be halt or escalate, got 'stop'",
        ),
        ("compress_keep_last", 1, "GuardPolicy.compress_keep_last must be at least 2"),
    ],
)
def test_invalid_values_raise_naming_the_field(field: str, value: Any, message: str) -> None:
    with pytest.raises(ValueError) as info:
        GuardPolicy(**{field: value})
    assert str(info.value) == message


@pytest.mark.parametrize("field", ["loop_no_progress_turns", "drift_limit", "max_tool_calls"])
def test_negative_counts_are_rejected(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        GuardPolicy(**{field: -1})


def test_boundary_values_are_accepted() -> None:
    policy = GuardPolicy(
        max_agent_steps=1,
        loop_repeat_limit=1,
        loop_window=1,
        max_repairs=1,
        budget_soft_ratio=1.0,
        compress_keep_last=2,
    )
    assert (policy.max_agent_steps, policy.budget_soft_ratio, policy.compress_keep_last) == (
        1,
        1.0,
        2,
    )


def test_sensitive_paths_are_stored_as_a_tuple() -> None:
    assert CUSTOM.sensitive_paths == ("*.pem", "infra/*")


def test_to_dict_is_json_and_from_dict_round_trips() -> None:
    data = CUSTOM.to_dict()
    assert data["sensitive_paths"] == ["*.pem", "infra/*"]
    assert data["deadline_action"] == "escalate"
    assert GuardPolicy.from_dict(json.loads(json.dumps(data))) == CUSTOM
    assert GuardPolicy.from_dict(GuardPolicy().to_dict()) == GuardPolicy()


def test_from_dict_ignores_unknown_keys_and_validates() -> None:
    assert GuardPolicy.from_dict({"loop_window": 7, "retired_setting": 1}).loop_window == 7
    with pytest.raises(ValueError, match="GuardPolicy.loop_window must be at least 1"):
        GuardPolicy.from_dict({"loop_window": 0})


def test_keel_context_round_trips_the_nested_policy() -> None:
    context = KeelContext(model="openai:gpt-4o-mini", guards=CUSTOM, review_sample_rate=0.1)
    data = json.loads(json.dumps(context.to_dict()))
    assert data["guards"] == CUSTOM.to_dict()
    restored = KeelContext.from_dict({**data, "unknown": True})
    assert isinstance(restored.guards, GuardPolicy)
    assert restored == context
    assert KeelContext.from_dict({}) == KeelContext()


# ------------------------------------------------------------------------- settings


def _load(tmp_path: Path, **env: str) -> Settings:
    return Settings.load({"KEEL_HOME": str(tmp_path), **env}, dotenv=tmp_path / "none.env")


def test_settings_read_guard_values_by_type(tmp_path: Path) -> None:
    guards = _load(
        tmp_path,
        KEEL_GUARD_LOOP_WINDOW="20",
        KEEL_GUARD_BUDGET_COST_USD="3.5",
        KEEL_GUARD_DEADLINE_S="60",
        KEEL_GUARD_DEADLINE_ACTION="escalate",
        KEEL_GUARD_SENSITIVE_PATHS=" *auth*, *.pem ,, ",
    ).guards
    assert guards.loop_window == 20 and type(guards.loop_window) is int
    assert guards.budget_cost_usd == 3.5
    assert guards.deadline_s == 60.0 and type(guards.deadline_s) is float
    assert guards.deadline_action == "escalate"
    assert guards.sensitive_paths == ("*auth*", "*.pem")
    assert guards.max_repairs == GuardPolicy().max_repairs  # untouched: the default


def test_settings_without_guard_variables_give_the_default_policy(tmp_path: Path) -> None:
    assert _load(tmp_path, KEEL_GUARD_LOOP_WINDOW="  ").guards == GuardPolicy()


@pytest.mark.parametrize(
    ("name", "raw", "message"),
    [
        ("KEEL_GUARD_LOOP_WINDOW", "many", "KEEL_GUARD_LOOP_WINDOW='many' is not a valid int"),
        ("KEEL_GUARD_LOOP_WINDOW", "1.5", "KEEL_GUARD_LOOP_WINDOW='1.5' is not a valid int"),
        (
            "KEEL_GUARD_BUDGET_COST_USD",
            "lots",
            "KEEL_GUARD_BUDGET_COST_USD='lots' is not a valid float",
        ),
    ],
)
def test_settings_reject_unparsable_values_naming_the_variable(
    tmp_path: Path, name: str, raw: str, message: str
) -> None:
    with pytest.raises(SettingsError) as info:
        _load(tmp_path, **{name: raw})
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("name", "raw", "field"),
    [
        ("KEEL_GUARD_LOOP_WINDOW", "0", "loop_window"),
        ("KEEL_GUARD_DEADLINE_ACTION", "stop", "deadline_action"),
        ("KEEL_GUARD_BUDGET_SOFT_RATIO", "3", "budget_soft_ratio"),
    ],
)
def test_settings_reject_values_the_policy_refuses(
    tmp_path: Path, name: str, raw: str, field: str
) -> None:
    with pytest.raises(SettingsError, match=f"GuardPolicy.{field}"):
        _load(tmp_path, **{name: raw})


@pytest.mark.parametrize(
    ("name", "raw"),
    [("KEEL_GUARD_LOOP_WINDOW", "0"), ("KEEL_GUARD_DEADLINE_ACTION", "stop")],
)
def test_settings_policy_errors_name_the_variable(tmp_path: Path, name: str, raw: str) -> None:
    with pytest.raises(SettingsError, match=name):
        _load(tmp_path, **{name: raw})


# ------------------------------------------------------------- composed from the guards


def test_the_policy_is_every_built_in_guards_settings_and_they_do_not_clash() -> None:
    from dataclasses import fields

    from keel.nodes.guards import policy as policy_module
    from keel.nodes.guards.attach import DEFAULT_GUARDS

    composed = GuardPolicy()
    for guard in DEFAULT_GUARDS:
        assert guard.settings_for(composed) is composed, guard.name
    seen: dict[str, str] = {}
    for cls in GuardPolicy.__mro__[1:]:
        own = {n for n in vars(cls) if not n.startswith("__")} - {"_validate"}
        for name in own:
            assert name not in seen, f"{name} in {cls.__name__} and {seen[name]}"
            seen[name] = cls.__name__
    table = policy_module.__doc__ or ""
    for f in fields(GuardPolicy):
        assert f"| `{f.name}` |" in table, f"{f.name} missing from the policy's table"


def test_every_setting_has_its_keel_guard_variable(tmp_path: Path) -> None:
    from dataclasses import fields

    env: dict[str, str] = {}
    expected: dict[str, Any] = {}
    for f in fields(GuardPolicy):
        default = f.default
        if f.name == "sensitive_paths":
            env["KEEL_GUARD_SENSITIVE_PATHS"], expected[f.name] = "a*,b*", ("a*", "b*")
        elif f.name == "deadline_action":
            env["KEEL_GUARD_DEADLINE_ACTION"], expected[f.name] = "escalate", "escalate"
        elif f.name == "budget_soft_ratio":
            env["KEEL_GUARD_BUDGET_SOFT_RATIO"], expected[f.name] = "0.5", 0.5
        else:
            value = type(default)(default + 3)
            env[f"KEEL_GUARD_{f.name.upper()}"], expected[f.name] = str(value), value
    guards = _load(tmp_path, **env).guards
    assert {name: getattr(guards, name) for name in expected} == expected


def test_drift_has_its_own_window() -> None:
    policy = GuardPolicy(loop_window=3)
    assert (policy.loop_window, policy.drift_window) == (3, 12)
