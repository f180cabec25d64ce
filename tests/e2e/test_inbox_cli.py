"""`keel inbox` as a command: how it starts, and how it refuses to."""

from __future__ import annotations

import socket

from tests.e2e.conftest import KeelRunner


def test_a_busy_port_is_exit_1_not_awaiting_approval(keel: KeelRunner) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = keel("inbox", "--port", str(port), timeout=60)
    assert result.code == 1, result.stderr
    assert "inbox is OPEN" in result.stderr
    assert f"http://127.0.0.1:{port}/" in result.stderr


def test_an_unreachable_database_is_exit_6(keel: KeelRunner) -> None:
    result = keel(
        "inbox", "--database", "postgresql://nobody@127.0.0.1:1/none", "--port", "1", timeout=60
    )
    assert result.code == 6
    assert "cannot reach PostgreSQL at postgresql://nobody@127.0.0.1:1/none" in result.stderr
