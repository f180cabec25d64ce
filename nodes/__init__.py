"""Graph nodes: specialist agents (`keel.nodes.agents`), guards (`keel.nodes.guards`), effects."""

__all__: list[str] = []
