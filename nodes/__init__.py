"""Graph nodes: specialist agents (`nodes.agents`), guards (`nodes.guards`), effects."""

__all__: list[str] = []
