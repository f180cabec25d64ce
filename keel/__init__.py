"""Keel runtime glue: settings, models, persistence, registry and the `keel` CLI.

No agent logic lives here: agents and guards are in `nodes/`, wiring in `graphs/`,
tools in `tools/`.
"""

__all__: list[str] = []
__version__ = "0.1.0"
