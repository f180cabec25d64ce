"""Answer OpenAI chat-completion requests with Keel's offline policy model.

Lets the real `ChatOpenAI` client talk HTTP to a local server whose replies follow the
same policy as the embedded offline model, so a whole pipeline can run over HTTP.
"""

from __future__ import annotations

import json
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage

from keel.offline import OfflinePolicyModel


def _text(content: Any) -> str:
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return str(content or "")


def to_messages(body: dict[str, Any]) -> list[BaseMessage]:
    """Convert OpenAI request messages to LangChain messages."""
    names: dict[str, str] = {}
    messages: list[BaseMessage] = []
    for raw in body["messages"]:
        role = raw["role"]
        if role in ("system", "developer"):
            messages.append(SystemMessage(_text(raw["content"])))
        elif role == "user":
            messages.append(HumanMessage(_text(raw["content"])))
        elif role == "assistant":
            calls = []
            for call in raw.get("tool_calls") or []:
                names[call["id"]] = call["function"]["name"]
                calls.append(
                    {
                        "id": call["id"],
                        "name": call["function"]["name"],
                        "args": json.loads(call["function"]["arguments"] or "{}"),
                    }
                )
            messages.append(AIMessage(_text(raw.get("content")), tool_calls=calls))
        elif role == "tool":
            messages.append(
                ToolMessage(
                    _text(raw["content"]),
                    tool_call_id=raw["tool_call_id"],
                    name=names.get(raw["tool_call_id"], ""),
                )
            )
    return messages


def offline_responder(body: dict[str, Any]) -> dict[str, Any]:
    """Responder for `OpenAICompatServer`: the offline policy's reply as an OpenAI message."""
    kwargs: dict[str, Any] = {}
    if body.get("tools"):
        kwargs["tools"] = body["tools"]
    if body.get("tool_choice") is not None:
        kwargs["tool_choice"] = body["tool_choice"]
    reply = OfflinePolicyModel().invoke(to_messages(body), **kwargs)
    return {
        "content": reply.content or None,
        "tool_calls": [
            {
                "id": c["id"],
                "type": "function",
                "function": {"name": c["name"], "arguments": json.dumps(c["args"])},
            }
            for c in reply.tool_calls
        ],
    }
