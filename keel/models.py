"""Chat-model factory: `offline`, any `init_chat_model` id, or an OpenAI-compatible server.

* `offline` — Keel's deterministic policy model (`keel.offline`), the default.
* `openai-compatible:NAME` — `ChatOpenAI` against `OPENAI_BASE_URL` (vLLM, llama.cpp,
  Ollama, LM Studio, ...) with model `NAME`.
* `local` / `local:NAME` / `local:/path/to/model.gguf` — llama.cpp's `llama-server`, which
  Keel starts and stops (`keel.local_model`), driven through `ChatOpenAI`; `local` serves
  Qwen2.5-Coder-0.5B-Instruct, `NAME` is a model of `keel.model_store.CATALOG`.
* anything else — `langchain.chat_models.init_chat_model(id)`, e.g. `openai:gpt-4o-mini`;
  `OPENAI_BASE_URL` / `OPENAI_API_KEY` are honoured by the OpenAI provider.

`bind_models(settings)` is the factory a run's graph is built with: the settings are read
once, by the caller, and every model the graph asks for comes from them (the graph never
reads the environment). Prices are in `keel.core.pricing`.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from langchain_core.language_models import BaseChatModel

from keel import local_model
from keel.offline import OFFLINE_LABEL, OfflinePolicyModel
from keel.settings import Settings

if TYPE_CHECKING:
    from langchain_openai import ChatOpenAI

__all__ = ["ModelError", "bind_models", "chat_model", "model_label"]

GRAMMAR_MAX_STRING = 300
"""Longest free string a local model may write in a constrained tool call (characters)."""

GRAMMAR_MAX_ITEMS = 16
"""Most items of an array in a constrained tool call (findings, dismissals, paths)."""

_CACHE: dict[str, BaseChatModel] = {}
_LOCK = threading.Lock()


class ModelError(RuntimeError):
    """The configured model cannot be created (unknown provider, missing key, ...)."""


def model_label(model_id: str) -> str:
    """Return the label reports carry for a model id.

    `offline` for the policy model, `local:<model name>` for a local GGUF model (e.g.
    `local:Qwen2.5-Coder-0.5B-Instruct`), the id itself otherwise.
    """
    if local_model.is_local(model_id):
        return local_model.local_label(model_id)
    return OFFLINE_LABEL if model_id == OFFLINE_LABEL else model_id


def bind_models(settings: Settings) -> Callable[[str], BaseChatModel]:
    """Return the model factory of a run: `chat_model` with these settings, read once.

    A graph is built with it (`build_review_graph(bind_models(settings))`), so the model
    calls of a review never read the environment or `.env` again.
    """
    return functools.partial(chat_model, settings=settings)


def chat_model(model_id: str, settings: Settings | None = None) -> BaseChatModel:
    """Return the (cached) chat model for an id.

    Raises:
        ModelError: the id names no usable model; the message says what to set.
    """
    settings = settings or Settings.load()
    key = "|".join(
        str(part)
        for part in (
            model_id,
            settings.openai_base_url,
            settings.llama_server,
            settings.models_dir,
            settings.local_max_tokens,
            settings.local_ctx,
            settings.local_threads,
            settings.local_parallel,
            settings.local_tool_calls,
        )
    )
    with _LOCK:
        if key not in _CACHE:
            _CACHE[key] = _create(model_id, settings)
        return _CACHE[key]


def _create(model_id: str, settings: Settings) -> BaseChatModel:
    if model_id == OFFLINE_LABEL:
        return OfflinePolicyModel()
    if local_model.is_local(model_id):
        return _local(model_id, settings)
    if model_id.startswith("openai-compatible:"):
        from langchain_openai import ChatOpenAI

        if not settings.openai_base_url:
            raise ModelError(f"KEEL_MODEL={model_id} needs OPENAI_BASE_URL (the server's /v1 URL)")
        kwargs: dict[str, Any] = {
            "model": model_id.split(":", 1)[1],
            "base_url": settings.openai_base_url,
            "api_key": settings.openai_api_key or "not-needed",
            "stream_usage": True,
            "temperature": 0,
        }
        return ChatOpenAI(**kwargs)
    from langchain.chat_models import init_chat_model

    try:
        return init_chat_model(model_id, temperature=0)
    except (ValueError, ImportError) as exc:
        raise ModelError(f"cannot create model {model_id!r}: {exc}") from exc


def _local(model_id: str, settings: Settings) -> BaseChatModel:
    """Start (or reuse) this process's llama.cpp server and return a client for it."""
    options = local_model.ServerOptions(
        n_ctx=settings.local_ctx,
        n_threads=settings.local_threads,
        parallel=settings.local_parallel,
        start_timeout_s=settings.local_start_timeout_s,
    )
    try:
        server = local_model.shared_server(
            model_id,
            llama_server=settings.llama_server,
            models_dir=settings.models_dir,
            options=options,
            log_dir=settings.home / "local-model",
        )
    except local_model.LocalModelError as exc:
        raise ModelError(f"KEEL_MODEL={model_id}: {exc}") from exc
    return _llama_cpp_chat()(  # type: ignore[call-arg]  # tool_calls_mode: the subclass's field
        model=server.name,
        base_url=server.base_url,
        api_key="not-needed",  # type: ignore[arg-type]
        temperature=0,
        stream_usage=True,
        timeout=settings.local_request_timeout_s,
        max_retries=1,
        # llama.cpp's server ignores the `max_completion_tokens` langchain-openai sends.
        extra_body={"max_tokens": settings.local_max_tokens},
        tool_calls_mode=settings.local_tool_calls,
    )


@functools.cache
def _llama_cpp_chat() -> type[ChatOpenAI]:
    """Return `ChatOpenAI` adapted to llama.cpp's `llama-server --jinja`.

    The server renders the offered tools into the model's own chat template (Qwen's
    `<tools>` block and `<tool_call>` instructions) either way; how a call is decoded
    depends on `tool_calls`:

    * `constrained` (the default): a turn that must call a tool (`any`, `required` or a
      named tool) is decoded under a JSON schema of the template's call object —
      `{"name": <one of the offered tools>, "arguments": <that tool's schema>}` — sent as
      `response_format` with `tool_choice: none`, and the answer becomes the call. A small
      model cannot ramble past its reply cap before the call, or pick a tool it was not
      offered; an answer cut at the cap is an invalid call, which the tool-misuse guard
      answers. One call per turn.
    * `native`: `any` is sent as `required` (the server's grammar then ends the answer with
      a `<tool_call>` block, but lets free text come first) and parsed by the server.

    In both, a named tool is offered alone (the server ignores named choices), calls the
    model wrote as text are recovered (`keel.toolcalls`), and every answer records where
    its calls came from (`response_metadata["keel_tool_calls"]`). An assistant turn that
    only calls tools is sent with `""` content, not `null`.
    """
    from langchain_core.callbacks import CallbackManagerForLLMRun
    from langchain_core.messages import AIMessage, BaseMessage
    from langchain_core.outputs import ChatGeneration, ChatResult
    from langchain_openai import ChatOpenAI

    from keel.toolcalls import with_recovered_calls

    def _names(tools: Any) -> list[str]:
        return [
            str(t.get("function", {}).get("name") or t.get("name") or "")
            for t in tools or []
            if isinstance(t, dict)
        ]

    def _call_schema(tools: Any) -> dict[str, Any]:
        options = [
            {
                "type": "object",
                "properties": {
                    "name": {"const": t["function"]["name"]},
                    "arguments": _bounded(t["function"].get("parameters") or {"type": "object"}),
                },
                "required": ["name", "arguments"],
            }
            for t in tools
            if isinstance(t, dict) and isinstance(t.get("function"), dict)
        ]
        return options[0] if len(options) == 1 else {"anyOf": options}

    def _bounded(schema: Any) -> Any:
        """A copy of a JSON schema whose free strings and arrays have an upper bound.

        Under the grammar a small model that repeats itself inside a string argument (a
        summary, a title) never closes it and runs into the reply cap, so the call is lost;
        bounded, the grammar makes it close the string and finish the call.
        """
        if isinstance(schema, list):
            return [_bounded(item) for item in schema]
        if not isinstance(schema, dict):
            return schema
        out = {key: _bounded(value) for key, value in schema.items()}
        kind = out.get("type")
        unbounded = not any(k in out for k in ("enum", "const", "pattern", "format"))
        if kind == "string" and unbounded and "maxLength" not in out:
            out["maxLength"] = GRAMMAR_MAX_STRING
        if kind == "array" and "maxItems" not in out:
            out["maxItems"] = GRAMMAR_MAX_ITEMS
        return out

    class LlamaCppChatOpenAI(ChatOpenAI):
        tool_calls_mode: str = "constrained"
        """`constrained` or `native` (see `_llama_cpp_chat`)."""

        def bind_tools(self, tools: Any, *, tool_choice: Any = None, **kwargs: Any) -> Any:
            if tool_choice in ("any", "required", True):
                tool_choice = "required"
            elif isinstance(tool_choice, str) and tool_choice not in ("auto", "none"):
                wanted = tool_choice
                chosen = [t for t in tools if getattr(t, "name", None) == wanted]
                chosen = chosen or [
                    t for t in tools if isinstance(t, dict) and wanted in _names([t])
                ]
                if chosen:
                    tools, tool_choice = chosen, "required"
            return super().bind_tools(tools, tool_choice=tool_choice, **kwargs)

        def _generate(
            self,
            messages: list[BaseMessage],
            stop: list[str] | None = None,
            run_manager: CallbackManagerForLLMRun | None = None,
            **kwargs: Any,
        ) -> ChatResult:
            result = super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)
            offered = _names(kwargs.get("tools"))
            constrained = self.tool_calls_mode == "constrained" and kwargs.get(
                "tool_choice"
            ) not in (None, "auto", "none")
            source = "constrained" if constrained else "recovered"
            generations = [
                ChatGeneration(
                    message=with_recovered_calls(g.message, offered, recovered=source),
                    generation_info=g.generation_info,
                )
                if isinstance(g.message, AIMessage)
                else g
                for g in result.generations
            ]
            return ChatResult(generations=generations, llm_output=result.llm_output)

        def _get_request_payload(
            self, input_: Any, *, stop: list[str] | None = None, **kwargs: Any
        ) -> dict[str, Any]:
            payload = super()._get_request_payload(input_, stop=stop, **kwargs)
            for message in payload.get("messages") or []:
                if message.get("content") is None:
                    message["content"] = ""
            must_call = payload.get("tool_choice") not in (None, "auto", "none")
            if self.tool_calls_mode == "constrained" and payload.get("tools") and must_call:
                payload["tool_choice"] = "none"
                # in extra_body: a top-level response_format sends langchain-openai down
                # the strict structured-output path (`.parse`), which refuses these tools
                payload["extra_body"] = {
                    **(payload.get("extra_body") or {}),
                    "response_format": {
                        "type": "json_schema",
                        "json_schema": {
                            "name": "tool_call",
                            "schema": _call_schema(payload["tools"]),
                        },
                    },
                }
            return payload

    return LlamaCppChatOpenAI
