"""Settings from the environment and .env."""

from __future__ import annotations

from pathlib import Path

import pytest

from keel.settings import Settings, SettingsError


def test_defaults(tmp_path: Path) -> None:
    settings = Settings.load({"KEEL_HOME": str(tmp_path)}, dotenv=tmp_path / "missing.env")
    assert settings.model == "offline"
    assert settings.database_url == f"sqlite:///{tmp_path / 'keel.db'}"
    assert settings.review_min_severity == "high"


def test_env_wins_over_dotenv(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("KEEL_MODEL=openai:gpt-4o-mini\nKEEL_MAX_AGENT_STEPS=7\n")
    settings = Settings.load({"KEEL_MODEL": "offline"}, dotenv=dotenv)
    assert settings.model == "offline"
    assert settings.guards.max_agent_steps == 7


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"KEEL_MAX_AGENT_STEPS": "many"}, "KEEL_GUARD_MAX_AGENT_STEPS='many' is not a valid int"),
        ({"KEEL_GUARD_BUDGET_SOFT_RATIO": "3"}, "budget_soft_ratio must be in"),
        ({"KEEL_DATABASE_URL": "mysql://x"}, "must start with sqlite:/// or postgresql://"),
        ({"KEEL_REVIEW_MIN_SEVERITY": "urgent"}, "is not one of"),
        ({"KEEL_REVIEW_SAMPLE_RATE": "2"}, "must be between 0 and 1"),
    ],
)
def test_bad_values_name_the_variable(tmp_path: Path, env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Settings.load(env, dotenv=tmp_path / "none")
