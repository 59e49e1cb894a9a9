"""The gateway served by a real uvicorn on a free loopback port, in a thread (this module holds no tests)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

from tests.support.sink import free_port


@contextmanager
def serving(app: FastAPI, timeout_s: float = 30.0) -> Iterator[str]:
    """Yields the base URL (``http://127.0.0.1:<port>``) while the app serves; stops it after."""
    port = free_port()
    compression = app.state.settings.gateway.ws_compression  # as `mercado api` serves it
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", ws="websockets-sansio",
                            ws_per_message_deflate=compression)  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="api-under-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the API did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout_s)
