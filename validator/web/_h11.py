"""uvicorn's h11 protocol with the deadlines it lacks: a request's line and headers must arrive
within `header_timeout` seconds, its body within `body_timeout`; a connection that misses one
is closed.

uvicorn times out only an idle kept-alive connection (`timeout_keep_alive`, from the end of a
response), and any byte that arrives cancels that timer; nothing bounds a fresh connection, a
request whose headers trickle in a byte at a time, or a body that never ends. The body's
deadline is first the guard's (`GuardOptions.body_timeout`, answered with the API's error
body); the one here is the backstop for what the guard does not read, such as the rest of a
body after a refusal.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["TimedH11Protocol", "timed_protocol"]

# The guard answers a late body at `body_timeout`; the connection is closed only if that did
# not end it, so the backstop waits a little longer.
BACKSTOP_GRACE = 1.0


class TimedH11Protocol(H11Protocol):
    header_timeout: ClassVar[float] = 10.0
    body_timeout: ClassVar[float | None] = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._phase = "idle"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        # A fresh connection owes its first request's headers (uvicorn's keep-alive timer
        # only starts after a response).
        self._enter("headers")

    def connection_lost(self, exc: Exception | None) -> None:
        self._enter("closed")
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._phase == "idle":
            # The first bytes of the next request on a kept-alive connection.
            self._enter("headers")
        super().data_received(data)
        self._follow()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._follow()

    def _follow(self) -> None:
        """Move the deadline to what the connection now waits for from the client."""
        if self.transport.is_closing():
            self._enter("closed")
            return
        state = self.conn.their_state
        if state is h11.IDLE:
            # Part of a request's head may already be buffered (pipelined, or arriving).
            self._enter("headers" if self.conn.trailing_data[0] or self._phase == "headers"
                        else "idle")
        elif state is h11.SEND_BODY:
            self._enter("body")
        else:
            self._enter("done")

    def _enter(self, phase: str) -> None:
        if phase == self._phase and self._deadline is not None:
            return  # a deadline runs from the start of its phase, not from the last byte
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self._phase = phase
        seconds = {"headers": self.header_timeout,
                   "body": None if self.body_timeout is None
                   else self.body_timeout + BACKSTOP_GRACE}.get(phase)
        if seconds is not None:
            self._deadline = self.loop.call_later(seconds, self._expired)

    def _expired(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.logger.info("closing a connection whose request %s did not arrive in time",
                             "headers" if self._phase == "headers" else "body")
            self.transport.close()


def timed_protocol(header_timeout: float, body_timeout: float | None
                   ) -> type[TimedH11Protocol]:
    """The protocol class for uvicorn's `http=` with these deadlines."""
    return type("TimedH11Protocol", (TimedH11Protocol,),
                {"header_timeout": header_timeout, "body_timeout": body_timeout})
