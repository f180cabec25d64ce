"""Token savings: prompt tokens over 50-turn scripted tasks, compression on vs off.

Each case plants three facts (tool-reported issues) in its first turns, then makes
noise calls. Prompt tokens are summed over every model call (`count_tokens_approximately`);
a case succeeds when every planted fact (rule and file) is still in the final prompt.
"""

from __future__ import annotations

from ._graphs import build_keel, quiet_policy, start_state
from ._harness import Env, Table
from ._model import FakeToolModel

__all__ = ["TITLE", "run"]

TITLE = "token savings"
_TURNS = 50
_AT = 2000
"""Compressor threshold (tokens) for these tasks: a 50-turn task reaches ~6,000."""


def _case(case: int, compress: bool) -> tuple[int, bool]:
    facts = {k: (f"K{case}{k}", f"src/mod{case}_{k}.py", 10 + k) for k in range(3)}
    model = FakeToolModel(count_prompt=True)
    model.queries = {1 + k: f"fact:{r}:{f}:{ln}" for k, (r, f, ln) in facts.items()}
    policy = quiet_policy(compress_at_tokens=_AT) if compress else quiet_policy()
    graph = build_keel(model, policy)
    model.script(_TURNS)
    graph.invoke(start_state("keel"), {"recursion_limit": 10**6})
    kept = all(r in model.last_prompt and f in model.last_prompt for r, f, _ in facts.values())
    return sum(model.prompt_tokens), kept


def run(env: Env) -> list[Table]:
    """Summed prompt tokens and success rate, on vs off."""
    cases = 3 if env.quick else 20
    results = {c: [_case(i, c) for i in range(cases)] for c in (False, True)}
    off = sum(t for t, _ in results[False])
    on = sum(t for t, _ in results[True])
    ok_off = 100 * sum(k for _, k in results[False]) / cases
    ok_on = 100 * sum(k for _, k in results[True]) / cases
    saved = 100 * (1 - on / off)
    drop = ok_off - ok_on
    table = Table(
        TITLE,
        ["compress", "cases", "prompt tokens", "success %", "saved %", "goal", "met"],
    )
    table.rows.append(["off", str(cases), str(off), f"{ok_off:.0f}", "", "", ""])
    table.rows.append(
        [
            "on",
            str(cases),
            str(on),
            f"{ok_on:.0f}",
            f"{saved:.1f}",
            ">= 40% saved, <= 2 pt drop",
            "yes" if saved >= 40 and drop <= 2 else "NO",
        ]
    )
    table.notes.append(
        f"{_TURNS} tool turns per case, ~200-byte tool results, three facts planted in turns "
        f"2-4; compressor at {_AT:,} tokens, last 6 kept, summary budget {_AT // 8:,} tokens "
        "(the default, compress_at_tokens / 8)"
    )
    return [table]
