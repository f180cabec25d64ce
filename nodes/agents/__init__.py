"""Agent nodes: intake, supervisor, specialists, report."""

__all__: list[str] = []
