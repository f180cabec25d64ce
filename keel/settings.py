"""One `Settings` object, read from the environment and an optional `.env` file.

Environment variables win over `.env`; `.env` is read from the current directory and
never copied into `os.environ`.

| variable | default | meaning |
|---|---|---|
| `KEEL_MODEL` | `offline` | `offline`, an `init_chat_model` id, or `openai-compatible:NAME` |
| `OPENAI_BASE_URL` / `OPENAI_API_KEY` | unset | any OpenAI-compatible server |
| `KEEL_HOME` | `.keel` | where the SQLite file and reports live |
| `KEEL_DATABASE_URL` | `sqlite:///$KEEL_HOME/keel.db` | `sqlite:///PATH` or `postgresql://...` |
| `KEEL_GUARD_<NAME>` | see `GuardPolicy` | any guard setting (`KEEL_GUARD_BUDGET_COST_USD`) |
| `KEEL_MAX_AGENT_STEPS` | 24 | alias of `KEEL_GUARD_MAX_AGENT_STEPS` |
| `KEEL_MAX_TOOL_CALLS` | 40 | alias of `KEEL_GUARD_MAX_TOOL_CALLS` |
| `KEEL_REVIEW_MIN_SEVERITY` | `high` | findings at or above it need human review |
| `KEEL_REVIEW_CONFIDENCE` | 0.5 | handoffs below it need human review |
| `KEEL_REVIEW_SAMPLE_RATE` | 0.0 | fraction of automatic runs sampled for review |
| `KEEL_PUBLISH_PATH` | `KEEL_REVIEW.md` | where an approved review is published in the repo |
| `KEEL_TOOL_TIMEOUT` | 300 | seconds per tool subprocess |
| `KEEL_REVIEWER` | `$USER` | identity recorded with review decisions |
| `KEEL_EFFECT_JOURNAL` | unset | JSONL audit journal of executed side effects |
| `KEEL_HANDOFF` | `packet` | what a specialist receives: `packet`, `summary` or `full` |
| `KEEL_DIFF_FILTER` | `added` | what a review reports: `added`, `diff_context`, `file`, `all` |
| `KEEL_LLAMA_SERVER` | `make local-model`'s | llama.cpp's `llama-server` (`KEEL_MODEL=local`) |
| `KEEL_MODELS_DIR` | `~/.keel/models` | the local models' GGUF files (`make local-model`) |
| `KEEL_LOCAL_MAX_TOKENS` | 768 | reply cap of a local model (sent as `max_tokens`) |
| `KEEL_LOCAL_CTX` | 16384 | context window of the local llama.cpp server |
| `KEEL_LOCAL_THREADS` | 2 | CPU threads of the local llama.cpp server |
| `KEEL_LOCAL_PARALLEL` | 3 | server slots (specialists served at once, each cached) |
| `KEEL_LOCAL_TOOL_CALLS` | constrained | `constrained` (JSON-schema decoding) or `native` |
| `KEEL_LOCAL_START_TIMEOUT` | 120 | seconds to wait for the local server to answer |
| `KEEL_LOCAL_REQUEST_TIMEOUT` | 600 | seconds per request to the local server |
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dotenv import dotenv_values

from keel.core.vocabulary import SEVERITIES
from keel.nodes.context import (
    DIFF_FILTERS,
    HANDOFF_STYLES,
    DiffFilter,
    HandoffStyle,
    KeelContext,
)
from keel.nodes.guards.base import SettingsEnvError, settings_from_env
from keel.nodes.guards.policy import GuardPolicy

__all__ = ["Settings", "SettingsError"]


class SettingsError(ValueError):
    """A setting has a value Keel cannot use."""


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Process-wide configuration."""

    model: str
    openai_base_url: str | None
    openai_api_key: str | None
    home: Path
    database_url: str
    guards: GuardPolicy
    review_min_severity: str
    review_confidence_threshold: float
    review_sample_rate: float
    publish_path: str
    tool_timeout_s: float
    effect_journal: str
    reviewer: str
    llama_server: str | None = None
    """`KEEL_LLAMA_SERVER`: the `llama-server` binary (default: `make local-model`'s)."""
    models_dir: str | None = None
    """`KEEL_MODELS_DIR`: directory of the local models' GGUF files (default `~/.keel/models`)."""
    local_max_tokens: int = 768
    """`KEEL_LOCAL_MAX_TOKENS`: reply cap of a local model."""
    local_ctx: int = 16384
    """`KEEL_LOCAL_CTX`: context window of the local server, in tokens."""
    local_threads: int = 2
    """`KEEL_LOCAL_THREADS`: CPU threads of the local server."""
    local_parallel: int = 3
    """`KEEL_LOCAL_PARALLEL`: slots of the local server (requests served at once)."""
    local_tool_calls: str = "constrained"
    """`KEEL_LOCAL_TOOL_CALLS`: `constrained` or `native` tool-call decoding."""
    local_start_timeout_s: float = 120.0
    """`KEEL_LOCAL_START_TIMEOUT`: seconds to wait for the local server to answer."""
    local_request_timeout_s: float = 600.0
    """`KEEL_LOCAL_REQUEST_TIMEOUT`: seconds per request to the local server."""
    handoff: HandoffStyle = "packet"
    """`KEEL_HANDOFF`: what a specialist receives (`packet`, `summary` or `full`)."""
    diff_filter: DiffFilter = "added"
    """`KEEL_DIFF_FILTER`: which findings a review reports (`keel review --filter`)."""

    def run_context(self) -> KeelContext:
        """The run context (LangGraph's `context_schema` value) these settings give a run."""
        return KeelContext(
            model=self.model,
            guards=self.guards,
            review_min_severity=self.review_min_severity,
            review_confidence_threshold=self.review_confidence_threshold,
            review_sample_rate=self.review_sample_rate,
            publish_path=self.publish_path,
            tool_timeout_s=self.tool_timeout_s,
            effect_journal=self.effect_journal,
            handoff=self.handoff,
            diff_filter=self.diff_filter,
        )

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, dotenv: Path | None = None) -> Settings:
        """Read settings from `env` (default `os.environ`) over `.env`.

        Raises:
            SettingsError: a value is malformed; the message names the variable.
        """
        file_values = {
            k: v for k, v in dotenv_values(dotenv or Path(".env")).items() if v is not None
        }
        merged: dict[str, str] = {**file_values, **(env if env is not None else os.environ)}

        def get(name: str, default: str) -> str:
            value = merged.get(name, "").strip()
            return value or default

        def number(name: str, default: str, kind: type[int] | type[float]) -> float:
            raw = get(name, default)
            try:
                value = kind(raw)
            except ValueError:
                raise SettingsError(f"{name}={raw!r} is not a valid {kind.__name__}") from None
            if value < 0:
                raise SettingsError(f"{name}={raw!r} must not be negative")
            return value

        home = Path(get("KEEL_HOME", ".keel")).expanduser().absolute()
        database_url = get("KEEL_DATABASE_URL", f"sqlite:///{home / 'keel.db'}")
        if not database_url.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise SettingsError(
                f"KEEL_DATABASE_URL must start with sqlite:/// or postgresql://, got "
                f"{database_url.split('://')[0]!r}"
            )
        severity = get("KEEL_REVIEW_MIN_SEVERITY", "high").lower()
        if severity not in SEVERITIES:
            raise SettingsError(
                f"KEEL_REVIEW_MIN_SEVERITY={severity!r} is not one of {', '.join(SEVERITIES)}"
            )
        sample = number("KEEL_REVIEW_SAMPLE_RATE", "0", float)
        if sample > 1:
            raise SettingsError(f"KEEL_REVIEW_SAMPLE_RATE={sample} must be between 0 and 1")
        handoff = get("KEEL_HANDOFF", "packet").lower()
        if handoff not in HANDOFF_STYLES:
            raise SettingsError(
                f"KEEL_HANDOFF={handoff!r} is not one of {', '.join(HANDOFF_STYLES)}"
            )
        diff_filter = get("KEEL_DIFF_FILTER", "added").lower()
        if diff_filter not in DIFF_FILTERS:
            raise SettingsError(
                f"KEEL_DIFF_FILTER={diff_filter!r} is not one of {', '.join(DIFF_FILTERS)}"
            )
        if merged.get("KEEL_LLAMA_PYTHON"):
            raise SettingsError(
                "KEEL_LLAMA_PYTHON is no longer read: KEEL_MODEL=local runs llama.cpp's "
                "llama-server binary; unset it, and set KEEL_LLAMA_SERVER=/path/to/llama-server "
                "if make local-model's (~/.keel/tools/llama-server/bin) is not the one to use"
            )
        return cls(
            model=get("KEEL_MODEL", "offline"),
            openai_base_url=merged.get("OPENAI_BASE_URL") or None,
            openai_api_key=merged.get("OPENAI_API_KEY") or None,
            home=home,
            database_url=database_url,
            guards=_guard_policy(merged),
            review_min_severity=severity,
            review_confidence_threshold=number("KEEL_REVIEW_CONFIDENCE", "0.5", float),
            review_sample_rate=sample,
            publish_path=get("KEEL_PUBLISH_PATH", "KEEL_REVIEW.md"),
            tool_timeout_s=number("KEEL_TOOL_TIMEOUT", "300", float),
            effect_journal=get("KEEL_EFFECT_JOURNAL", ""),
            reviewer=get("KEEL_REVIEWER", merged.get("USER", "") or "unknown"),
            llama_server=merged.get("KEEL_LLAMA_SERVER") or None,
            models_dir=merged.get("KEEL_MODELS_DIR") or None,
            local_max_tokens=_positive(
                int(number("KEEL_LOCAL_MAX_TOKENS", "768", int)), "KEEL_LOCAL_MAX_TOKENS"
            ),
            local_ctx=_positive(int(number("KEEL_LOCAL_CTX", "16384", int)), "KEEL_LOCAL_CTX"),
            local_threads=_positive(
                int(number("KEEL_LOCAL_THREADS", "2", int)), "KEEL_LOCAL_THREADS"
            ),
            local_parallel=_positive(
                int(number("KEEL_LOCAL_PARALLEL", "3", int)), "KEEL_LOCAL_PARALLEL"
            ),
            local_tool_calls=_choice(
                get("KEEL_LOCAL_TOOL_CALLS", "constrained"),
                ("constrained", "native"),
                "KEEL_LOCAL_TOOL_CALLS",
            ),
            local_start_timeout_s=number("KEEL_LOCAL_START_TIMEOUT", "120", float),
            local_request_timeout_s=number("KEEL_LOCAL_REQUEST_TIMEOUT", "600", float),
            handoff=handoff,
            diff_filter=diff_filter,
        )


def _choice(value: str, allowed: tuple[str, ...], name: str) -> str:
    if value not in allowed:
        raise SettingsError(f"{name}={value!r} must be one of {', '.join(allowed)}")
    return value


def _positive(value: int, name: str) -> int:
    if value < 1:
        raise SettingsError(f"{name}={value} must be at least 1")
    return value


_ALIASES = {"max_agent_steps": "KEEL_MAX_AGENT_STEPS", "max_tool_calls": "KEEL_MAX_TOOL_CALLS"}


def _guard_policy(env: Mapping[str, str]) -> GuardPolicy:
    """Build the guard policy from `KEEL_GUARD_<NAME>` variables (and two aliases).

    The names, types and checks come from the guards' settings (`settings_from_env`).
    """
    try:
        return settings_from_env(GuardPolicy, env, aliases=_ALIASES)
    except SettingsEnvError as exc:
        raise SettingsError(str(exc)) from None
