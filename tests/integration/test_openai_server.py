"""The local OpenAI-compatible server speaks well enough for the real ChatOpenAI client."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

from tests.support.openai_server import (
    OpenAICompatServer,
    ResponderError,
    scripted,
    tool_call,
)


@tool
def lookup(query: str) -> str:
    """Look something up."""
    return f"result for {query}"


def _tool_responder(body: dict[str, Any]) -> dict[str, Any]:
    # First turn: call the tool; once a tool result is in the conversation, answer in text.
    if any(m.get("role") == "tool" for m in body["messages"]):
        return {"content": "done: " + body["messages"][-1]["content"], "tool_calls": []}
    return {"content": None, "tool_calls": [tool_call("lookup", {"query": "keel"}, id="call_1")]}


def _model(srv: OpenAICompatServer, **kwargs: Any) -> ChatOpenAI:
    return ChatOpenAI(
        base_url=srv.base_url, api_key="test", model="local", max_retries=0, timeout=10, **kwargs
    )


@pytest.fixture
def echo_server() -> Any:
    with OpenAICompatServer() as srv:
        yield srv


def test_plain_reply(echo_server: OpenAICompatServer) -> None:
    reply = _model(echo_server).invoke("hello there")
    assert isinstance(reply, AIMessage)
    assert reply.content == "echo: hello there"
    assert reply.tool_calls == []
    assert reply.response_metadata["finish_reason"] == "stop"
    assert reply.response_metadata["model_name"] == "local"
    body = echo_server.chat_requests[-1]
    assert body["model"] == "local"
    assert body["messages"] == [{"role": "user", "content": "hello there"}]


def test_usage_metadata_non_streaming(echo_server: OpenAICompatServer) -> None:
    reply = _model(echo_server).invoke("x" * 40)
    usage = reply.usage_metadata
    assert usage is not None
    assert usage["input_tokens"] >= 10  # ~chars/4
    assert usage["output_tokens"] >= 1
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]


def test_tool_call_round_trip() -> None:
    with OpenAICompatServer(_tool_responder) as srv:
        model = _model(srv).bind_tools([lookup])
        first = model.invoke([HumanMessage("find keel")])
        assert first.tool_calls == [
            {"name": "lookup", "args": {"query": "keel"}, "id": "call_1", "type": "tool_call"}
        ]
        assert first.response_metadata["finish_reason"] == "tool_calls"
        sent = srv.chat_requests[0]
        assert [t["function"]["name"] for t in sent["tools"]] == ["lookup"]
        assert sent["tools"][0]["function"]["parameters"]["properties"]["query"]["type"] == (
            "string"
        )

        result = lookup.invoke(first.tool_calls[0])
        assert isinstance(result, ToolMessage)
        second = model.invoke([HumanMessage("find keel"), first, result])
        assert second.content == "done: result for keel"
        # the client sent the assistant tool call and the tool result back
        roles = [m["role"] for m in srv.chat_requests[1]["messages"]]
        assert roles == ["user", "assistant", "tool"]
        assert srv.chat_requests[1]["messages"][1]["tool_calls"][0]["id"] == "call_1"


def test_tool_choice_is_forwarded() -> None:
    with OpenAICompatServer(_tool_responder) as srv:
        _model(srv).bind_tools([lookup], tool_choice="lookup").invoke("go")
        assert srv.chat_requests[0]["tool_choice"] == {
            "type": "function",
            "function": {"name": "lookup"},
        }


def test_streaming_text_with_usage(echo_server: OpenAICompatServer) -> None:
    model = _model(echo_server, stream_usage=True)
    chunks = list(model.stream("a streamed reply that spans several chunks"))
    assert len(chunks) > 3
    full = chunks[0]
    for c in chunks[1:]:
        full = full + c
    assert full.content == "echo: a streamed reply that spans several chunks"
    assert full.usage_metadata is not None
    assert full.usage_metadata["output_tokens"] >= 1
    assert full.usage_metadata["total_tokens"] == (
        full.usage_metadata["input_tokens"] + full.usage_metadata["output_tokens"]
    )
    body = echo_server.chat_requests[-1]
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}


def test_streaming_tool_call() -> None:
    with OpenAICompatServer(_tool_responder) as srv:
        model = _model(srv, stream_usage=True).bind_tools([lookup])
        full = None
        for c in model.stream("find keel"):
            full = c if full is None else full + c
        assert full is not None
        assert full.tool_calls == [
            {"name": "lookup", "args": {"query": "keel"}, "id": "call_1", "type": "tool_call"}
        ]
        assert full.usage_metadata is not None


async def _ainvoke(srv: OpenAICompatServer) -> list[str]:
    model = _model(srv)
    return [str((await model.ainvoke(f"q{i}")).content) for i in range(3)]


def test_async_client_and_keep_alive(echo_server: OpenAICompatServer) -> None:
    import asyncio

    assert asyncio.run(_ainvoke(echo_server)) == ["echo: q0", "echo: q1", "echo: q2"]
    # several requests over one keep-alive connection do not hang
    with httpx.Client(base_url=echo_server.base_url, timeout=5) as client:
        for i in range(5):
            r = client.post(
                "/chat/completions",
                json={"model": "local", "messages": [{"role": "user", "content": str(i)}]},
            )
            assert r.status_code == 200
            assert r.json()["choices"][0]["message"]["content"] == f"echo: {i}"
            assert r.headers["content-length"] == str(len(r.content))


def test_models_endpoint(echo_server: OpenAICompatServer) -> None:
    r = httpx.get(echo_server.base_url + "/models", timeout=5)
    assert r.status_code == 200
    assert [m["id"] for m in r.json()["data"]] == ["local"]
    assert echo_server.requests[-1].method == "GET"


def test_scripted_and_errors() -> None:
    responder = scripted(["one", {"content": "two"}])
    with OpenAICompatServer(responder) as srv:
        model = _model(srv)
        assert model.invoke("a").content == "one"
        assert model.invoke("b").content == "two"
        with pytest.raises(Exception, match="scripted responder exhausted"):
            model.invoke("c")

    def rate_limited(body: dict[str, Any]) -> dict[str, Any]:
        raise ResponderError(429, "slow down", "rate_limit_error", should_retry=False)

    with OpenAICompatServer(rate_limited) as srv:
        import openai

        with pytest.raises(openai.RateLimitError):
            _model(srv).invoke("a")


def test_raw_sse_format(echo_server: OpenAICompatServer) -> None:
    r = httpx.post(
        echo_server.base_url + "/chat/completions",
        json={
            "model": "local",
            "stream": True,
            "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "hi"}],
        },
        timeout=5,
    )
    assert r.headers["content-type"].startswith("text/event-stream")
    events = [line[6:] for line in r.text.split("\n\n") if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["total_tokens"] > 0
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
