"""Keel graphs: the typed pipeline state, run context, generic wiring and workflows."""

__all__: list[str] = []
