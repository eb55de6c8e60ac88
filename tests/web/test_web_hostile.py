"""Hostile input against the web room, sent for real: `validator serve` processes on loopback
spoken to with raw sockets and httpx, and the adapters through real test clients. Every
server, socket and wait here is bounded in time."""

from __future__ import annotations

import asyncio
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from flask import Flask
from loadgen import http_request, read_response
from loadgen import serve_process as serve

from validator import Code, OptionsError
from validator.asgi import ValidationMiddleware as AsgiMiddleware
from validator.web import GuardOptions, Limits, MemoryRateLimiter, RequestGuard
from validator.wsgi import ValidationMiddleware as WsgiMiddleware

KEY = "k3yAbc123"
HEADERS = {"X-Auth-Token": f"api-key {KEY}", "Content-Type": "application/json"}
VALID = b'{"email":"john@example.com","campaign":{"campaignId":"pV3r"},"name":"John"}'
ERROR_KEYS = ["httpStatus", "code", "codeDescription", "message", "moreInfo", "context", "uuid"]
# An e-mail of a megabyte (under the default 1 MiB body limit): once a large fraction of a
# second of the engine's time, now refused by its length at once.
HEAVY = orjson.dumps({"email": "a" * 1_000_000 + "@example.com",
                      "campaign": {"campaignId": "pV3r"}})
# What still costs the engine time: values that run a pattern to its time bound (100 ms each),
# in a body over `thread_above` (2 KiB). Served from --schemas at POST /validate/slow.pattern.
SLOW_SCHEMA = {"type": "object", "properties": {
    "v": {"type": "array", "items": {"type": "string", "pattern": "^(a|aa)+$"}}}}
SLOW = orjson.dumps({"v": ["a" * 40 + "!"], "pad": " " * 3000})
SLOW_PATH = "/validate/slow.pattern"


@pytest.fixture
def slow_schemas(tmp_path: Path) -> str:
    (tmp_path / "slow.pattern.json").write_bytes(orjson.dumps(SLOW_SCHEMA))
    return str(tmp_path)




def api_error(status: int, body: bytes, code: int, http_status: int) -> dict[str, Any]:
    """The API's error body (SPEC §2), keys in order, with this code and status."""
    assert status == http_status, body[:500]
    found: dict[str, Any] = orjson.loads(body)
    assert list(found) == ERROR_KEYS
    assert (found["code"], found["httpStatus"]) == (code, http_status)
    return found


def _split(response: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = response.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split(" ", 2)[1]), headers, body


def _response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One whole response (its head, then Content-Length bytes of body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    status, headers, body = _split(data)
    while len(body) < int(headers.get("content-length", "0")):
        chunk = sock.recv(65536)
        assert chunk, data
        body += chunk
    return status, headers, body


def _read_until_closed(sock: socket.socket, limit: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and when it did (seconds
    from now); fails if it is still open after `limit` seconds."""
    start = time.monotonic()
    data = b""
    while True:
        left = limit - (time.monotonic() - start)
        if left <= 0:
            pytest.fail(f"the server kept the connection open for {limit} s", pytrace=False)
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            return data, time.monotonic() - start
        data += chunk


def _drip(sock: socket.socket, data: bytes, every: float, limit: float) -> float | None:
    """Send `data` a byte every `every` seconds; when the server cuts the connection or
    answers (an answer ends the request as surely: under load the close may come after it),
    how long that took (None if neither happened within `limit` seconds or the data ran
    out)."""
    start = time.monotonic()
    sock.settimeout(every)
    for byte in data:
        if time.monotonic() - start > limit:
            return None
        try:
            sock.sendall(bytes([byte]))
            sock.recv(1, socket.MSG_PEEK)
            return time.monotonic() - start
        except TimeoutError:
            continue
        except (BrokenPipeError, ConnectionResetError):
            return time.monotonic() - start
    return None


# -- 1. an expensive body does not stall the others -----------------------------------------


def test_small_requests_are_answered_while_heavy_bodies_are_checked(slow_schemas: str) -> None:
    heavy = http_request("POST", SLOW_PATH, SLOW, HEADERS)
    small = http_request("POST", "/v3/contacts", VALID, HEADERS)
    in_flight = 4

    async def go(port: int) -> tuple[float, list[float], list[float]]:
        # What one heavy body costs alone: the scale for "stalled".
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        started = time.perf_counter()
        writer.write(heavy)
        assert await asyncio.wait_for(read_response(reader), 30) == 400
        alone = time.perf_counter() - started
        writer.close()

        heavy_done: list[float] = []

        async def attacker() -> None:
            r, w = await asyncio.open_connection("127.0.0.1", port)
            w.write(heavy)
            await w.drain()
            assert await asyncio.wait_for(read_response(r), 60) == 400
            heavy_done.append(time.perf_counter())
            w.close()

        attackers = [asyncio.create_task(attacker()) for _ in range(in_flight)]
        await asyncio.sleep(0.3)  # the heavy bodies are in and being checked
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        latencies = []
        for _ in range(20):
            sent = time.perf_counter()
            writer.write(small)
            assert await asyncio.wait_for(read_response(reader), 30) == 202
            latencies.append(time.perf_counter() - sent)
        small_done = time.perf_counter()
        writer.close()
        await asyncio.wait_for(asyncio.gather(*attackers), 120)
        return alone, latencies, [t - small_done for t in heavy_done]

    with serve("--no-auth", "--schemas", slow_schemas) as port:
        alone, latencies, heavy_after = asyncio.run(go(port))
    # The small requests were answered while heavy bodies were still being checked ...
    assert max(heavy_after) > 0, (alone, heavy_after)
    # ... each without waiting for one (on the event loop, each waited about a whole one).
    assert statistics.median(latencies) < alone / 4, (alone, latencies)
    assert max(latencies) < alone, (alone, latencies)


def test_heavy_bodies_get_the_same_answers_as_on_the_loop() -> None:
    bodies = [HEAVY, b"[" * 40 + b"]" * 40, b'{"email": "a@b.c", ' + b" " * 5000 + b"}",
              b'{"email": ' + b"1" * 5000 + b"}", VALID + b" " * 5000]
    answers = []
    for thread_above in (None, 0):
        app = AsgiMiddleware(_ok, GuardOptions(thread_above=thread_above))

        async def ask(app: Any = app) -> list[tuple[int, Any]]:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                out = []
                for body in bodies:
                    response = await client.post("/v3/contacts", content=body, headers=HEADERS)
                    content = orjson.loads(response.content) if response.content else None
                    if isinstance(content, dict):
                        content.pop("uuid")
                    out.append((response.status_code, content))
                return out

        answers.append(asyncio.run(ask()))
    assert answers[0] == answers[1]
    assert [status for status, _ in answers[0]] == [400, 400, 400, 400, 200]


def _ask(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(request)
        return _response(sock)


def test_a_full_queue_of_heavy_bodies_is_answered_1019_at_once(slow_schemas: str) -> None:
    # Each slow body holds the worker thread 0.1 s or more; with a queue of 2, of 8 sent at
    # once at most 2 wait and the rest are told at once to come back (503), not queued.
    slow = http_request("POST", SLOW_PATH, SLOW, HEADERS)
    small = http_request("POST", "/v3/contacts", VALID, HEADERS)
    with serve("--no-auth", "--schemas", slow_schemas, "--max-queued", "2") as port, \
            ThreadPoolExecutor(8) as pool:
        started = time.monotonic()
        burst = list(pool.map(lambda _: (_ask(port, slow), time.monotonic() - started),
                              range(8)))
        statuses = sorted(status for (status, _, _), _ in burst)
        busy = [(headers, body, took) for (status, headers, body), took in burst
                if status == 503]
        assert statuses.count(400) >= 2 and len(busy) >= 1, statuses
        for headers, body, took in busy:
            found = api_error(503, body, Code.SERVICE_UNAVAILABLE, 503)
            assert found["context"] == {} and "2 large request bodies" in found["message"]
            assert headers["retry-after"] == "1"
            assert took < max(t for _, t in burst)  # refused while others still waited
        # Small bodies never queue, and once the burst is through a heavy one is taken again.
        assert _ask(port, small)[0] == 202
        status, _, body = _ask(port, slow)
        assert status == 400 and b"could not be matched" in body


def test_max_queued_is_a_checked_option() -> None:
    for bad in (0, -1, 1.5, True):
        with pytest.raises(OptionsError, match="max_queued"):
            GuardOptions(max_queued=bad)  # type: ignore[arg-type]
    assert GuardOptions().max_queued == 64


async def _ok(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b""})


# -- 2. slow headers and bodies are cut off -------------------------------------------------


def test_slow_headers_fresh_idle_and_kept_alive_connections_are_closed() -> None:
    head = http_request("POST", "/v3/contacts", VALID, HEADERS)
    with serve("--no-auth", "--header-timeout", "1", "--body-timeout", "2") as port:
        # A slowloris: one header byte every 0.2 s, never a whole head in 1 s.
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            cut = _drip(sock, head, every=0.2, limit=8)
        assert cut is not None and 0.8 < cut < 3.5, cut
        # A connection that never sends a byte.
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            data, closed = _read_until_closed(sock, 5)
        assert data == b"" and 0.8 < closed < 3.5, closed
        # A kept-alive connection: a full request is answered, then the next head trickles.
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(head)
            status, _, _ = _response(sock)
            assert status == 202
            cut = _drip(sock, head, every=0.2, limit=8)
        assert cut is not None and cut < 3.5, cut
        # Requests that arrive in time are unaffected, however many on one connection.
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            for _ in range(3):
                assert client.post("/v3/contacts", content=VALID,
                                   headers=HEADERS).status_code == 202
                time.sleep(0.5)


def test_a_body_that_does_not_arrive_in_time_is_answered_1000_and_closed() -> None:
    head = (b"POST /v3/contacts HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"X-Auth-Token: api-key " + KEY.encode() + b"\r\nContent-Length: %d\r\n\r\n")
    with serve("--body-timeout", "1") as port:
        # Part of the body, then nothing.
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(head % len(VALID) + VALID[:10])
            data, closed = _read_until_closed(sock, 6)
        status, headers, body = _split(data)
        found = api_error(status, body, Code.VALIDATION_ERROR, 400)
        assert found["context"][0]["fieldName"] == [] and "1 seconds" in found["message"]
        assert headers["connection"] == "close" and 0.8 < closed < 3.5, closed
        # A byte every 0.2 s: the deadline counts from the headers, not from the last byte.
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(head % len(VALID))
            cut = _drip(sock, VALID, every=0.2, limit=8)
        assert cut is not None and cut < 3.5, cut
        # Refused before its body is read (a key that is not well-formed), the body still
        # trickling: the server's backstop closes the connection.
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(head.replace(KEY.encode(), b"short") % 1000 + b"{")
            status, _, body = _response(sock)
            api_error(status, body, Code.AUTHENTICATION, 403)
            cut = _drip(sock, b" " * 999, every=0.2, limit=8)
        assert cut is not None and cut < 4.5, cut


def test_a_declared_length_over_the_limit_is_refused_and_the_connection_closed() -> None:
    with serve("--max-body", "1000") as port, \
            socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"POST /v3/contacts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                     b"\r\nX-Auth-Token: api-key " + KEY.encode() +
                     b"\r\nContent-Length: 1000000000\r\n\r\n{")
        data, _ = _read_until_closed(sock, 5)
    status, headers, body = _split(data)
    api_error(status, body, Code.WRONG_LENGTH, 400)
    assert headers["connection"] == "close"


def test_the_wsgi_adapter_leaves_connection_headers_to_its_server() -> None:
    app = Flask(__name__)
    app.wsgi_app = WsgiMiddleware(app.wsgi_app, max_body=10)  # type: ignore[method-assign]
    response = app.test_client().post("/v3/contacts", data=VALID, headers=HEADERS)
    api_error(response.status_code, response.get_data(), Code.WRONG_LENGTH, 400)
    assert "Connection" not in response.headers


def test_timeouts_are_checked_options() -> None:
    from validator import OptionsError

    for bad in ({"body_timeout": 0}, {"body_timeout": -1.0}, {"thread_above": -1}):
        with pytest.raises(OptionsError):
            GuardOptions(**bad)
    result = subprocess.run([sys.executable, "-m", "validator", "serve", "--header-timeout",
                             "0"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "--header-timeout" in result.stderr


# -- 3. rate limits cannot be multiplied by inventing keys ----------------------------------


def _held(port: int, key: str) -> socket.socket:
    """A request admitted and then left waiting for its body: it holds a concurrency slot."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(b"POST /v3/contacts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"X-Auth-Token: api-key " + key.encode() + b"\r\nContent-Length: 100\r\n\r\n")
    return sock


def _invented(n: int) -> str:
    return f"invented{n:04d}"


def test_rotating_invented_keys_from_one_client_hits_the_limit() -> None:
    with serve("--rate-limit", "--body-timeout", "20") as port:
        held = [_held(port, _invented(n)) for n in range(10)]
        try:
            time.sleep(0.5)  # all ten admitted and waiting for their bodies
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
                answers = [client.post("/v3/contacts", content=VALID, headers={
                    **HEADERS, "X-Auth-Token": f"api-key {_invented(n)}"})
                    for n in range(10, 50)]
        finally:
            for sock in held:
                sock.close()
    for answer in answers:
        found = api_error(answer.status_code, answer.content, Code.QUOTA_REACHED, 429)
        assert found["context"]["currentLimit"] == 10


def test_only_accepted_keys_get_a_bucket(tmp_path: Path) -> None:
    keys = tmp_path / "keys.txt"
    keys.write_text(f"{KEY}\n")
    with serve("--rate-limit", key_file=keys) as port, \
            httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
        for n in range(50):
            refused = client.post("/v3/contacts", content=VALID, headers={
                **HEADERS, "X-Auth-Token": f"api-key {_invented(n)}"})
            api_error(refused.status_code, refused.content, Code.AUTHENTICATION, 403)
            assert "x-ratelimit-remaining" not in refused.headers
        accepted = client.post("/v3/contacts", content=VALID, headers=HEADERS)
        assert accepted.status_code == 202
        assert accepted.headers["x-ratelimit-remaining"] == "29999"


def test_buckets_per_address_without_a_key_check_in_both_adapters() -> None:
    def limited() -> GuardOptions:
        # A clock that stands still: all 50 calls fall in the same second.
        return GuardOptions(rate_limiter=MemoryRateLimiter(Limits(per_second=20),
                                                           clock=lambda: 1000.0))

    def key(n: int) -> dict[str, str]:
        return {**HEADERS, "X-Auth-Token": f"api-key {_invented(n)}"}

    async def through_asgi() -> list[int]:
        transport = httpx.ASGITransport(app=AsgiMiddleware(_ok, limited()),
                                        client=("192.0.2.7", 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return [(await client.post("/v3/contacts", content=VALID, headers=key(n)))
                    .status_code for n in range(50)]

    app = Flask(__name__)
    app.post("/v3/contacts")(lambda: ("", 202))
    app.wsgi_app = WsgiMiddleware(app.wsgi_app, limited())  # type: ignore[method-assign]
    wsgi = app.test_client()
    # `buffered=True`: the test client closes each response, as a server does after sending.
    through_wsgi = [wsgi.post("/v3/contacts", data=VALID, headers=key(n), buffered=True,
                              environ_base={"REMOTE_ADDR": "192.0.2.7"}).status_code
                    for n in range(50)]
    other = wsgi.post("/v3/contacts", data=VALID, headers=key(0), buffered=True,
                      environ_base={"REMOTE_ADDR": "192.0.2.8"})
    for statuses, ok in ((asyncio.run(through_asgi()), 200), (through_wsgi, 202)):
        # 50 calls inside a second, whatever the key: 20 pass, the rest are 1015.
        assert statuses[:20] == [ok] * 20 and set(statuses[20:]) == {429}, statuses
    assert other.status_code == 202  # another address has its own bucket


def test_malformed_keys_are_1014_through_the_server() -> None:
    with serve() as port, httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as c:
        for token in ("api-key short", "api-key " + "a" * 33, "api-key with-dash1",
                      "api-key", "apikey k3yAbc123"):
            refused = c.post("/v3/contacts", content=VALID,
                             headers={**HEADERS, "X-Auth-Token": token})
            found = api_error(refused.status_code, refused.content, Code.AUTHENTICATION, 403)
            assert found["context"] == {"authenticationType": "auth_token"}
        for token in ("api-key abcd1234", "api-key " + "Z9" * 16):
            assert c.post("/v3/contacts", content=VALID,
                          headers={**HEADERS, "X-Auth-Token": token}).status_code == 202


# -- 4. query parameter names nest no deeper than the limit ---------------------------------


def test_deeply_bracketed_query_names_are_400_never_500() -> None:
    deep = "query" + "[a]" * 483
    with serve() as port, httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as c:
        for query in (f"{deep}=1", f"page=1&{deep}=x", deep.replace("[", "%5B").replace(
                "]", "%5D") + "=1"):
            refused = c.get(f"/v3/contacts?{query}", headers=HEADERS)
            found = api_error(refused.status_code, refused.content, Code.VALIDATION_ERROR, 400)
            entry = found["context"][0]
            assert entry["validationType"] == "query" and entry["fieldName"] == ["query"]
            assert "deeper than 32" in entry["errorDescription"]
            assert len(entry["errorDescription"]) < 200
        # At the limit the name is the schema's business, not the guard's.
        at_limit = c.get("/v3/contacts?query" + "[a]" * 32 + "=1", headers=HEADERS)
        assert at_limit.status_code in (200, 400)
        if at_limit.status_code == 400:
            assert "deeper than" not in at_limit.text
        # The body route with a query schema is guarded alike.
        assert c.get("/v3/contacts?page=2", headers=HEADERS).status_code == 200


def test_query_depth_is_the_same_rule_in_both_adapters() -> None:
    deep = "query" + "[a]" * 40 + "=1"
    guard = RequestGuard(max_depth=8)
    app = Flask(__name__)
    app.get("/v3/contacts")(lambda: ("", 200))
    app.wsgi_app = WsgiMiddleware(app.wsgi_app, guard)  # type: ignore[method-assign]
    wsgi = app.test_client().get(f"/v3/contacts?{deep}", headers=HEADERS)

    async def through_asgi() -> httpx.Response:
        transport = httpx.ASGITransport(app=AsgiMiddleware(_ok, guard))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.get(f"/v3/contacts?{deep}", headers=HEADERS)

    asgi = asyncio.run(through_asgi())
    bodies: list[dict[str, Any]] = []
    for status, content in ((wsgi.status_code, wsgi.get_data()),
                            (asgi.status_code, asgi.content)):
        found = api_error(status, content, Code.VALIDATION_ERROR, 400)
        found.pop("uuid")
        bodies.append(found)
    assert bodies[0] == bodies[1]
    assert "deeper than 8" in bodies[0]["context"][0]["errorDescription"]
