"""A slow pool checkout on a live server is not an outage.

Under heavy machine load a checkout can wait past the short outage wait (a new connection
made by a starved process); the server still answers, so the checkout keeps waiting
instead of the command exiting 6 ("lost PostgreSQL"). A stopped server still fails fast
(`tests/reliability/test_outage.py`, `tests/e2e/test_bad_input.py`).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from keel import persistence as persistence_module
from keel.persistence import open_persistence


@pytest.mark.postgres
def test_checkout_waits_past_the_short_wait_while_the_server_answers(pg_url: str) -> None:
    with open_persistence(pg_url) as persistence:
        pool: Any = persistence.registry._pool  # type: ignore[attr-defined]
        held = [pool.getconn() for _ in range(pool.max_size)]  # every connection busy
        hold_s = persistence_module._WAIT_FOR_CONNECTION_S + 1.5
        release = threading.Timer(hold_s, lambda: [pool.putconn(c) for c in held])
        started = time.monotonic()
        release.start()
        try:
            assert persistence.registry.list() == []  # waits for a connection, no PoolTimeout
        finally:
            release.join()
        assert time.monotonic() - started >= hold_s - 0.5
