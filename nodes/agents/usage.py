"""Usage accounting for one model call, from the message's `usage_metadata`."""

from __future__ import annotations

from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.messages.utils import count_tokens_approximately

from keel.core.pricing import cost_usd
from keel.core.state import Usage

__all__ = ["usage_of"]


def usage_of(response: BaseMessage, model_id: str, seconds: float) -> Usage:
    """Return the usage of one model call (approximate counts when the model gives none)."""
    meta = response.usage_metadata if isinstance(response, AIMessage) else None
    if meta:
        tokens_in, tokens_out = int(meta["input_tokens"]), int(meta["output_tokens"])
    else:
        tokens_in, tokens_out = 0, count_tokens_approximately([response])
    return Usage(
        input_tokens=tokens_in,
        output_tokens=tokens_out,
        cost_usd=cost_usd(model_id, tokens_in, tokens_out),
        model_calls=1,
        tool_calls=0,
        seconds=round(seconds, 4),
    )
