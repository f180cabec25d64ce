"""What a model call costs: USD per million tokens, by model id.

The budget guard and the usage figures price every call with `cost_usd`; a model the
table does not know costs 0, and the report says the cost is unknown.
"""

from __future__ import annotations

__all__ = ["PRICES_PER_MILLION", "cost_usd"]

PRICES_PER_MILLION: dict[str, tuple[float, float]] = {
    "offline": (0.0, 0.0),
    "openai:gpt-4o-mini": (0.15, 0.60),
    "openai:gpt-4o": (2.50, 10.00),
    "openai:gpt-4.1-mini": (0.40, 1.60),
    "openai:gpt-4.1": (2.00, 8.00),
    "anthropic:claude-3-5-haiku-latest": (0.80, 4.00),
}
"""USD per million (input, output) tokens, by model id."""


def cost_usd(model_id: str, input_tokens: int, output_tokens: int) -> float:
    """Return the price of one call from the price table (0 for unknown models)."""
    price_in, price_out = PRICES_PER_MILLION.get(model_id, (0.0, 0.0))
    return (input_tokens * price_in + output_tokens * price_out) / 1_000_000
