"""The unit-test conftest forbids network connections."""

from __future__ import annotations

import socket
import urllib.request

import pytest


def test_socket_connect_raises() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        with pytest.raises(RuntimeError, match="unit tests may not open sockets"):
            s.connect(("127.0.0.1", 9))
        with pytest.raises(RuntimeError, match="unit tests may not open sockets"):
            s.connect_ex(("127.0.0.1", 9))


def test_create_connection_raises() -> None:
    with pytest.raises(RuntimeError, match="unit tests may not open sockets"):
        socket.create_connection(("127.0.0.1", 9), timeout=1)


def test_http_client_cannot_connect() -> None:
    with pytest.raises(RuntimeError, match="unit tests may not open sockets"):
        urllib.request.urlopen("http://127.0.0.1:9/", timeout=1)
