"""Running the service under uvicorn with deadlines on every request (what `validator serve`
does)."""

from __future__ import annotations

import sys
from typing import Any

from ._options import DEFAULT_BODY_TIMEOUT

__all__ = ["run_server"]

DEFAULT_HEADER_TIMEOUT = 10.0
SWITCH_INTERVAL = 0.001


def run_server(app: Any, *, host: str = "127.0.0.1", port: int = 8000,
               header_timeout: float = DEFAULT_HEADER_TIMEOUT,
               body_timeout: float | None = DEFAULT_BODY_TIMEOUT,
               log_level: str = "warning", access_log: bool = False) -> None:
    """Serve `app` with uvicorn's h11 protocol, closing a connection whose request line and
    headers take longer than `header_timeout` seconds, or whose body takes longer than
    `body_timeout` (give the app's guard the same `body_timeout`: it answers first, with the
    API's error body). An idle kept-alive connection is closed after uvicorn's 5 seconds.

    The process is the server's: the interpreter's thread switch interval is set to 1 ms
    (from 5), since the guard checks heavy bodies in a worker thread and the event loop
    waits up to one interval for the interpreter each time it wakes; that halves the latency
    other requests see while a heavy body is checked, and costs nothing without one."""
    import uvicorn

    from ._h11 import timed_protocol

    sys.setswitchinterval(SWITCH_INTERVAL)
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=access_log,
                lifespan="on", http=timed_protocol(header_timeout, body_timeout))
