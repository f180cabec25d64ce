"""Keel: guarded agent pipelines on LangGraph, installed as the one import name `keel`.

The modules directly in `keel/` are the application (settings, models, persistence,
registry, server and the `keel` CLI). The repository's top-level folders are its other
subpackages, through symlinks in `keel/`: `keel.graphs` (wiring and the core state),
`keel.nodes` (agents and guards), `keel.tools` and `keel.evals`. The layers and their
contracts are in docs/architecture.md.
"""

__all__: list[str] = []
__version__ = "0.1.0"
