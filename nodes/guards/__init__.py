"""Guard nodes. Each: a pure check returning a `Verdict`, and a node entered when it fires."""

__all__: list[str] = []
