"""Keel's deterministic offline policy model — the embedded default, not an LLM.

`OfflinePolicyModel` is a real `BaseChatModel`: it is bound to tools with `bind_tools`,
answers `with_structured_output`, reports `usage_metadata`, and runs through exactly the
same graph code as a hosted model. It does not understand language. It follows a fixed,
documented policy over Keel's two agent protocols, using only what is in its messages:

* **Structured output** (a forced tool choice): for a planning schema with an
  `assignments` field it reads the brief (the last fenced ```json block in the
  messages: `files` and `specialists` with their `handles` globs) and assigns each
  specialist the files its globs match. Any other schema gets its required fields from
  the brief when the names match, else empty values.
* **Tool loop**: on its first turns it calls every bound tool whose required
  arguments it can fill from the brief (`paths`/`files` ← the brief's files), all in one
  turn — with no fenced brief (a prose handoff) the files are the path-like words of
  the human messages (`prose_files`: a word with a `/` or a dotted extension, no `..`;
  a name without either, such as `Makefile`, is not recognised); once every such tool
  has answered, it calls the submission tool (the bound tool whose name starts with
  `submit`) with findings copied from the tools' JSON results
  (`issues` lists), a summary counting them, a confidence lowered for every tool that
  returned an error, those errors as open questions, and `run_tests` proposed when a
  tool result listed tests.
* Otherwise it answers with a short plain-text summary of the last message.

Everything it emits is labelled `offline` in reports; never read its output as LLM
quality.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.messages.utils import count_tokens_approximately
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool

__all__ = ["OFFLINE_LABEL", "OfflinePolicyModel", "extract_brief", "prose_files"]

OFFLINE_LABEL = "offline"
"""The label every report carries when this model ran."""

_BRIEF_RE = re.compile(r"```json\s*(\{.*?\})\s*```", re.DOTALL)
_NOTES_RE = re.compile(r"```keel-notes\s*(\{.*?\})\s*```", re.DOTALL)
_PATH_PARAMS = ("paths", "files")
_PATH_WORD_RE = re.compile(r"[\w./-]*\w")
_EXTENSION_RE = re.compile(r"\.[A-Za-z][A-Za-z0-9]*$")
_MAX_FINDINGS = 200


def extract_brief(messages: Sequence[BaseMessage]) -> dict[str, Any]:
    """Return the last fenced JSON brief found in the messages, or `{}`."""
    for message in reversed(messages):
        if not isinstance(message.content, str) or isinstance(message, ToolMessage):
            continue
        for block in reversed(_BRIEF_RE.findall(message.content)):
            try:
                data = json.loads(block)
            except json.JSONDecodeError:
                continue
            if isinstance(data, dict):
                return data
    return {}


def prose_files(messages: Sequence[BaseMessage]) -> list[str]:
    """Path-like words of the human messages, in order, once each (a prose handoff).

    A word is path-like when it contains a `/` or ends in a dotted extension, and has no
    `..` (a revision range). Compressor summaries (`keel-notes`) are skipped.
    """
    found: list[str] = []
    for message in messages:
        if not isinstance(message, HumanMessage) or not isinstance(message.content, str):
            continue
        if _NOTES_RE.search(message.content):
            continue
        for word in message.content.split():
            match = _PATH_WORD_RE.search(word.strip("`'\"()[]{}<>,;:"))
            token = match.group(0) if match else ""
            if ".." in token or not ("/" in token or _EXTENSION_RE.search(token)):
                continue
            if token not in found:
                found.append(token)
    return found


def _notes(messages: Sequence[BaseMessage]) -> dict[str, Any]:
    """The latest `keel-notes` block the context compressor left (cumulative), or `{}`."""
    for message in reversed(messages):
        if isinstance(message, ToolMessage) or not isinstance(message.content, str):
            continue
        found = _NOTES_RE.findall(message.content)
        if found:
            try:
                data = json.loads(found[-1])
            except json.JSONDecodeError:
                return {}
            return data if isinstance(data, dict) else {}
    return {}


def _call_id(name: str, args: dict[str, Any], turn: int) -> str:
    digest = hashlib.sha1(  # noqa: S324 - an id, not security
        json.dumps([name, args, turn], sort_keys=True).encode()
    ).hexdigest()
    return f"call_{digest[:16]}"


def _schema(tool: dict[str, Any]) -> tuple[str, dict[str, Any], list[str]]:
    function = tool.get("function", tool)
    params = function.get("parameters", {}) or {}
    return function["name"], params.get("properties", {}) or {}, list(params.get("required", []))


class OfflinePolicyModel(BaseChatModel):
    """Deterministic policy model for offline runs (see the module docstring)."""

    model_name: str = OFFLINE_LABEL
    """Reported model name."""

    @property
    def _llm_type(self) -> str:
        return "keel-offline-policy"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name}

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools (as OpenAI tool schemas) and an optional forced tool choice."""
        formatted = [convert_to_openai_tool(tool) for tool in tools]
        return self.bind(tools=formatted, tool_choice=tool_choice, **kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        tools: list[dict[str, Any]] = list(kwargs.get("tools") or [])
        tool_choice = kwargs.get("tool_choice")
        brief = extract_brief(messages)
        turn = sum(isinstance(m, AIMessage) for m in messages)
        forced = self._forced_tool(tools, tool_choice)
        if forced is not None:
            if _schema(forced)[0].startswith("submit"):
                # a forced submission still reports what the tools returned
                name = _schema(forced)[0]
                args = _submission(messages)
                message = AIMessage(
                    content="",
                    tool_calls=[{"name": name, "args": args, "id": _call_id(name, {}, turn)}],
                )
            else:
                message = self._structured(forced, brief, turn)
        elif tools:
            message = self._tool_loop(tools, messages, brief, turn)
        else:
            last = messages[-1].content if messages else ""
            text = last if isinstance(last, str) else json.dumps(last)
            message = AIMessage(content=f"[offline policy model] received: {text[:200]}")
        in_tokens = count_tokens_approximately(messages)
        out_tokens = count_tokens_approximately([message])
        message.usage_metadata = {
            "input_tokens": in_tokens,
            "output_tokens": out_tokens,
            "total_tokens": in_tokens + out_tokens,
        }
        message.response_metadata = {"model_name": self.model_name, "model_provider": "keel"}
        return ChatResult(generations=[ChatGeneration(message=message)])

    # ----------------------------------------------------------------- policies

    @staticmethod
    def _forced_tool(tools: list[dict[str, Any]], tool_choice: Any) -> dict[str, Any] | None:
        if not tools or tool_choice in (None, "auto", "none"):
            return None
        if isinstance(tool_choice, dict):
            wanted = tool_choice.get("function", {}).get("name") or tool_choice.get("name")
        elif tool_choice in ("any", "required", True):
            wanted = _schema(tools[0])[0] if len(tools) == 1 else None
        else:
            wanted = str(tool_choice)
        for tool in tools:
            if _schema(tool)[0] == wanted:
                return tool
        return None

    def _structured(self, tool: dict[str, Any], brief: dict[str, Any], turn: int) -> AIMessage:
        name, props, required = _schema(tool)
        args: dict[str, Any]
        if "assignments" in props:
            args = {"assignments": _assign(brief), "rationale": _rationale(brief)}
        else:
            args = {key: brief.get(key, _empty(props.get(key, {}))) for key in required}
        return AIMessage(
            content="",
            tool_calls=[{"name": name, "args": args, "id": _call_id(name, args, turn)}],
        )

    def _tool_loop(
        self,
        tools: list[dict[str, Any]],
        messages: list[BaseMessage],
        brief: dict[str, Any],
        turn: int,
    ) -> AIMessage:
        called = {
            call["name"] for m in messages if isinstance(m, AIMessage) for call in m.tool_calls
        }
        called |= set(_notes(messages).get("called", []))
        files = (
            [str(f) for f in brief.get("files", [])] if "files" in brief else prose_files(messages)
        )
        submit = next((t for t in tools if _schema(t)[0].startswith("submit")), None)
        calls = []
        for tool in tools:
            name, props, required = _schema(tool)
            if tool is submit or name in called:
                continue
            args = _fill(props, required, files)
            if args is not None:
                calls.append({"name": name, "args": args, "id": _call_id(name, args, turn)})
        if calls:
            return AIMessage(content="", tool_calls=calls)
        if submit is None:
            return AIMessage(content="[offline policy model] all tools have answered.")
        name = _schema(submit)[0]
        args = _submission(messages)
        return AIMessage(
            content="", tool_calls=[{"name": name, "args": args, "id": _call_id(name, {}, turn)}]
        )


# ---------------------------------------------------------------------- helpers


def _empty(prop: dict[str, Any]) -> Any:
    return {"array": [], "object": {}, "string": "", "integer": 0, "number": 0.0}.get(
        str(prop.get("type", "string")), None
    )


def _fill(props: dict[str, Any], required: list[str], files: list[str]) -> dict[str, Any] | None:
    """Arguments for a tool from the brief, or None when a required one is unknown."""
    args: dict[str, Any] = {}
    for key in props:
        if key in _PATH_PARAMS:
            args[key] = files
    if all(key in args for key in required):
        return args
    return None


def _assign(brief: dict[str, Any]) -> list[dict[str, Any]]:
    files = [str(f) for f in brief.get("files", [])]
    assignments = []
    for spec in brief.get("specialists", []):
        globs = spec.get("handles", ["*"])
        mine = [f for f in files if any(fnmatch.fnmatch(f, g) for g in globs)]
        if mine:
            area = spec.get("area", spec["name"])
            assignments.append(
                {
                    "specialist": spec["name"],
                    "files": mine,
                    "instructions": f"Review {len(mine)} file(s) for {area} problems"
                    " with your tools; cite file, lines and code for every finding.",
                }
            )
    return assignments


def _rationale(brief: dict[str, Any]) -> str:
    files = brief.get("files", [])
    return f"offline policy: files matched to specialists by their globs ({len(files)} file(s))"


def _issue_finding(issue: dict[str, Any], tool: str) -> dict[str, Any]:
    return {
        "file": issue.get("file", ""),
        "line": int(issue.get("line") or 1),
        "end_line": int(issue.get("end_line") or issue.get("line") or 1),
        "severity": issue.get("severity", "low"),
        "category": issue.get("category", "correctness"),
        "rule": str(issue.get("rule", "")),
        "title": str(issue.get("message", ""))[:300],
        "evidence": str(issue.get("code", ""))[:400],
        "confidence": float(issue.get("confidence") or 0.5),
        "sources": [str(issue.get("tool") or tool)],
        "fixable": bool(issue.get("fixable", False)),
    }


def _submission(messages: list[BaseMessage]) -> dict[str, Any]:
    notes = _notes(messages)
    findings: list[dict[str, Any]] = [
        _issue_finding(issue, "notes")
        for issue in notes.get("issues", [])
        if isinstance(issue, dict)
    ]
    errors: list[str] = []
    tests: list[str] = []
    tools_used: list[str] = list(notes.get("called", []))
    for message in messages:
        if not isinstance(message, ToolMessage):
            continue
        tools_used.append(str(message.name))
        try:
            data = json.loads(message.content if isinstance(message.content, str) else "")
        except json.JSONDecodeError:
            errors.append(f"{message.name} returned text that is not JSON")
            continue
        if not isinstance(data, dict):
            continue
        if data.get("error"):
            errors.append(f"{message.name} failed: {data['error']}")
        tests.extend(str(t) for t in data.get("tests", []) or [])
        for issue in data.get("issues", []) or []:
            findings.append(_issue_finding(issue, str(message.name)))
    confidence = max(0.2, 0.85 - 0.25 * len(errors))
    actions = []
    if tests:
        actions.append(
            {
                "name": "run_tests",
                "reason": f"{len(tests)} test file(s) exist; running them executes repository "
                "code, so it needs approval",
            }
        )
    summary = f"{len(findings)} finding(s) from {len(set(tools_used))} tool(s)" + (
        f"; {len(errors)} tool error(s)" if errors else ""
    )
    return {
        "findings": findings[:_MAX_FINDINGS],
        "summary": summary,
        "confidence": round(confidence, 2),
        "open_questions": errors,
        "proposed_actions": actions,
    }
