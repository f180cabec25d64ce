"""Run a dataset through `langsmith.evaluate`: uploaded with an API key, fully offline without.

With `LANGSMITH_API_KEY` set, the dataset is created or updated idempotently (examples
have ids derived from the case ids, so a rerun updates instead of duplicating) and the
experiment is uploaded with the run configuration as metadata. Without a key nothing
leaves the machine: examples are `langsmith.schemas.Example` objects, the client points
at a closed local port and `evaluate(..., upload_runs=False)` keeps results in memory.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from langsmith import Client, evaluate, tracing_context
from langsmith.schemas import Example

from keel.nodes.context import HandoffStyle

from .evaluators import EVALUATORS
from .target import run_case

__all__ = ["CaseResult", "RunConfig", "offline_client", "run_experiment", "to_examples"]

_NAMESPACE = uuid.UUID("0b6f3b52-6c1e-4c1a-9a53-6b0e6c2c7a11")


@dataclass(frozen=True)
class RunConfig:
    """What an experiment ran with (recorded as the experiment's metadata)."""

    dataset: str
    model: str = "offline"
    guard_overrides: Mapping[str, Any] | None = None
    label: str = "default"
    max_concurrency: int = 2
    handoff: HandoffStyle = "packet"

    def metadata(self) -> dict[str, Any]:
        """JSON-able metadata of the run configuration."""
        return {
            "dataset": self.dataset,
            "model": self.model,
            "guard_overrides": dict(self.guard_overrides or {}),
            "handoff": self.handoff,
            "label": self.label,
            "offline_model": self.model == "offline",
            "note": "offline: scores measure the pipeline's mechanics and its real tools, "
            "not LLM quality"
            if self.model == "offline"
            else "",
        }


@dataclass
class CaseResult:
    """One evaluated case: the case, the target's outputs and every score."""

    case: dict[str, Any]
    outputs: dict[str, Any]
    scores: dict[str, float | None]
    comments: dict[str, str]


def offline_client() -> Client:
    """A LangSmith client that makes no network calls (closed local port, no batching)."""
    return Client(
        api_url="http://127.0.0.1:9", api_key="offline", info={}, auto_batch_tracing=False
    )


def _example_id(dataset: str, case_id: str) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, f"{dataset}/{case_id}")


def to_examples(dataset: str, cases: Sequence[Mapping[str, Any]]) -> list[Example]:
    """LangSmith examples of the cases: inputs to the target, reference to the evaluators."""
    dataset_id = uuid.uuid5(_NAMESPACE, dataset)
    now = datetime.now(UTC)
    return [
        Example(
            id=_example_id(dataset, case["id"]),
            dataset_id=dataset_id,
            inputs=dict(case["inputs"]),
            outputs=dict(case["reference"]),
            metadata={"case_id": case["id"], "tags": case.get("tags", []), "version": dataset},
            created_at=now,
        )
        for case in cases
    ]


def _sync_dataset(client: Client, name: str, cases: Sequence[Mapping[str, Any]]) -> str:
    """Create or update the LangSmith dataset; return its name."""
    ls_name = f"keel-{name}"
    if client.has_dataset(dataset_name=ls_name):
        dataset = client.read_dataset(dataset_name=ls_name)
    else:
        dataset = client.create_dataset(
            ls_name, description=f"Keel review pipeline evaluation cases ({name})"
        )
    existing = {str(e.id) for e in client.list_examples(dataset_id=dataset.id)}
    fresh: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    for case in cases:
        example = {
            "id": _example_id(name, case["id"]),
            "inputs": case["inputs"],
            "outputs": case["reference"],
            "metadata": {"case_id": case["id"], "tags": case.get("tags", []), "version": name},
        }
        (changed if str(example["id"]) in existing else fresh).append(example)
    if fresh:
        client.create_examples(dataset_id=dataset.id, examples=fresh)
    if changed:
        client.update_examples(dataset_id=dataset.id, updates=changed)
    return ls_name


def run_experiment(cases: Sequence[dict[str, Any]], config: RunConfig) -> list[CaseResult]:
    """Evaluate the cases with `langsmith.evaluate`; return one result per case, in order."""
    by_id = {case["id"]: case for case in cases}
    uploading = bool(os.environ.get("LANGSMITH_API_KEY"))

    def target(inputs: dict[str, Any]) -> dict[str, Any]:
        # Offline, `evaluate` traces "locally", which langchain's tracer still tries to
        # POST to the client's (closed) endpoint with retries: switch tracing off inside.
        with tracing_context(enabled=True if uploading else False):
            return run_case(
                inputs,
                model=config.model,
                guard_overrides=config.guard_overrides,
                handoff=config.handoff,
            )

    common: dict[str, Any] = {
        "evaluators": EVALUATORS,
        "metadata": config.metadata(),
        "experiment_prefix": f"keel-{config.dataset}-{config.label}",
        "max_concurrency": config.max_concurrency,
    }
    if uploading:
        client = Client()
        data: Any = _sync_dataset(client, config.dataset, cases)
        results = evaluate(target, data=data, client=client, **common)
    else:
        examples = to_examples(config.dataset, cases)
        results = evaluate(
            target, data=examples, client=offline_client(), upload_runs=False, **common
        )
    collected: dict[str, CaseResult] = {}
    for row in results:
        example = row["example"]
        case_id = str((example.metadata or {}).get("case_id"))
        scores: dict[str, float | None] = {}
        comments: dict[str, str] = {}
        for result in row["evaluation_results"]["results"]:
            scores[result.key] = None if result.score is None else float(result.score)
            if result.comment:
                comments[result.key] = result.comment
        outputs = dict(row["run"].outputs or {})
        collected[case_id] = CaseResult(by_id[case_id], outputs, scores, comments)
    return [collected[case["id"]] for case in cases if case["id"] in collected]
