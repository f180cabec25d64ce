"""A scripted chat model for graph tests: fails on extra calls, reports unused ones."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import LanguageModelInput
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool


class ScriptedChatModel(FakeMessagesListChatModel):
    """Replies with `responses` in order; a call past the script is a test failure.

    `seen` records the messages of every call, `bound` the tool names of each bind.
    Call `assert_complete()` at the end: an unused scripted reply is a failure too.
    """

    seen: list[list[BaseMessage]] = []
    bound: list[list[str]] = []

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        names = [getattr(t, "name", getattr(t, "__name__", str(t))) for t in tools]
        self.bound.append(names)
        return self

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.i >= len(self.responses):
            raise AssertionError(
                f"extra model call #{self.i + 1}: only {len(self.responses)} scripted"
            )
        self.seen.append(list(messages))
        response = self.responses[self.i]
        self.i += 1
        return ChatResult(generations=[ChatGeneration(message=response)])

    def assert_complete(self) -> None:
        """Fail when scripted replies were left unused."""
        assert self.i == len(self.responses), (
            f"{len(self.responses) - self.i} scripted reply(ies) unused"
        )
