"""A fake tool-calling chat model and the one tool the benchmark loops call."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import LanguageModelInput
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.messages.utils import count_tokens_approximately
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool, tool

__all__ = ["FakeToolModel", "lookup", "tool_result"]

PAYLOAD_BYTES = 200
"""Size of a tool result: the 200-byte message per step of ARCHITECTURE.md's measurements."""


def tool_result(query: str) -> str:
    """A distinct ~200-byte tool result for `query` (distinct, so no loop guard fires).

    A query `fact:RULE:FILE:LINE` returns a tool-style JSON issue instead (a planted fact).
    """
    if query.startswith("fact:"):
        _, rule, file, line = query.split(":")
        issue = {
            "tool": "bandit",
            "rule": rule,
            "file": file,
            "line": int(line),
            "severity": "high",
            "category": "security",
            "message": f"{rule} in {file}",
        }
        return json.dumps({"issues": [issue]})
    head = f"result for {query}: "
    return head + "x" * max(0, PAYLOAD_BYTES - len(head))


@tool
def lookup(query: str) -> str:
    """Look something up (returns a fixed-size text)."""
    return tool_result(query)


class FakeToolModel(FakeMessagesListChatModel):
    """Makes `until` tool-call turns (distinct arguments), then answers; supports bind_tools.

    `script(n)` arms it for `n` more tool turns on the same thread. `scripted`, when set,
    returns the tool call arguments for turn `n` (or None for a final answer). With
    `count_prompt`, the approximate prompt tokens of every call go to `prompt_tokens`;
    `last_prompt` keeps the text of the latest prompt.
    """

    responses: list[BaseMessage] = []
    until: int = 0
    calls: int = 0
    latency_s: float = 0.0
    count_prompt: bool = False
    prompt_tokens: list[int] = []
    last_prompt: str = ""
    tool_name: str = "lookup"
    queries: dict[int, str] = {}

    def script(self, turns: int) -> FakeToolModel:
        """Arm the model for `turns` more tool-call turns, then one final answer."""
        self.until = self.calls + turns
        return self

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Accept any tools: the script decides the calls."""
        return self

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.latency_s:
            time.sleep(self.latency_s)
        if self.count_prompt:
            self.prompt_tokens.append(count_tokens_approximately(messages))
            self.last_prompt = "\n".join(str(m.content) for m in messages)
        n = self.calls
        self.calls += 1
        if n < self.until:
            call = {
                "name": self.tool_name,
                "args": {"query": self.queries.get(n, f"q{n}")},
                "id": f"c{n}",
            }
            message = AIMessage("", tool_calls=[call])
        else:
            message = AIMessage("done: " + json.dumps({"turns": n}))
        return ChatResult(generations=[ChatGeneration(message=message)])
