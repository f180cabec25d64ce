"""Unit tests run without services: any attempt to open a network connection fails."""

from __future__ import annotations

import socket
from typing import Any, NoReturn

import pytest

SOCKETS_FORBIDDEN = "unit tests may not open sockets"


def _forbidden(*args: Any, **kwargs: Any) -> NoReturn:
    raise RuntimeError(SOCKETS_FORBIDDEN)


@pytest.fixture(autouse=True)
def _no_sockets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forbid outgoing connections (socket.connect / connect_ex / create_connection)."""
    monkeypatch.setattr(socket.socket, "connect", _forbidden)
    monkeypatch.setattr(socket.socket, "connect_ex", _forbidden)
    monkeypatch.setattr(socket, "create_connection", _forbidden)
