"""A real API client against a real `validator serve` on loopback: the PyPI package
`getresponse-python` (import name `getresponse`, sync, on requests), driven as its users drive
it, so that the README's table of what it does with each answer stays true.

(The async client `getresponse` on PyPI installs the same import package, `getresponse`, so the
two cannot share an environment; the README says what it does, from a run in its own.)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import requests
from getresponse.client import GetResponse
from getresponse.excs import ValidationError
from loadgen import free_port, serve_process

from validator.web import Limits, MemoryRateLimiter, create_app

KEY = "abcdef12345"
VALID = {"email": "ann@example.com", "campaign": {"campaignId": "pV3r"}}


def client(port: int, key: str = KEY) -> GetResponse:
    api = GetResponse(key, timeout=10)
    api.API_BASE_URL = f"http://127.0.0.1:{port}/v3"  # as its Enterprise subclass does
    return api


@pytest.fixture(scope="module")
def default_port() -> Iterator[int]:
    with serve_process() as port:
        yield port


@pytest.fixture(scope="module")
def combining_port() -> Iterator[int]:
    with serve_process("--always-combine") as port:
        yield port


def test_valid_contact_is_true(default_port: int) -> None:
    assert client(default_port).create_contact(VALID) is True  # the 202


def test_several_failures_are_its_validation_error_with_the_body(default_port: int) -> None:
    with pytest.raises(ValidationError) as caught:
        client(default_port).create_contact({"email": "not an address", "dayOfCycle": "x"})
    body: dict[str, Any] = caught.value.response
    assert body["code"] == 1000 and body["httpStatus"] == 400
    assert {e["code"] for e in body["context"]} >= {1003, 1005}


def test_one_kind_of_failure_is_a_bare_exception_without_the_body(default_port: int) -> None:
    # The client knows 1000/1001/1002/1008 only; the published single codes (here 1005) reach
    # its last line, `raise Exception(message)`.
    with pytest.raises(Exception) as caught:
        client(default_port).create_contact({"email": "ann@example.com"})
    assert type(caught.value) is Exception
    assert caught.value.args == ("campaign: Field is required but missing",)


def test_always_combine_gives_it_the_body_of_every_refusal(combining_port: int) -> None:
    with pytest.raises(ValidationError) as caught:
        client(combining_port).create_contact({"email": "ann@example.com"})
    assert caught.value.response["code"] == 1000
    assert caught.value.response["context"][0]["code"] == 1005


def test_a_refused_key_is_a_key_error_in_the_client(default_port: int) -> None:
    # 403 (1014) is neither its 400/409 nor its 202: it reads the error body as a contact.
    with pytest.raises(KeyError):
        client(default_port, key="short").create_contact(VALID)


def test_a_path_parameter_off_its_pattern_is_1003(default_port: int) -> None:
    with pytest.raises(Exception) as caught:
        client(default_port).update_contact("bad!id", {"name": "Ann"})
    assert "contactId: Value does not match the pattern" in caught.value.args[0]
    answer = requests.post(f"http://127.0.0.1:{default_port}/v3/contacts/bad!id",
                           json={"name": "Ann"}, headers={"X-Auth-Token": f"api-key {KEY}"},
                           timeout=10).json()
    (entry,) = answer["context"]
    assert entry["validationType"] == "path" and entry["fieldName"] == ["contactId"]
    assert entry["regex"] == "^[A-Za-z0-9]{1,64}$"


def test_an_undeclared_method_is_405_with_allow(default_port: int) -> None:
    base = f"http://127.0.0.1:{default_port}"
    answer = requests.delete(f"{base}/v3/contacts", timeout=10)
    assert answer.status_code == 405
    assert answer.headers["Allow"] == "GET, POST"
    body = answer.json()
    assert body["httpStatus"] == 405 and body["context"]["allowed"] == ["GET", "POST"]
    assert requests.delete(f"{base}/v3/nothing", timeout=10).status_code == 404
    assert "Allow" not in requests.delete(f"{base}/v3/nothing", timeout=10).headers


# --------------------------------------------------------------------------------------------
# Rate limits, from a server with tight limits (the service in a uvicorn thread on loopback)
# --------------------------------------------------------------------------------------------
@pytest.fixture
def tight_port() -> Iterator[int]:
    import uvicorn

    limiter = MemoryRateLimiter(Limits(per_second=1000, per_window=2, window=600))
    app = create_app(rate_limiter=limiter)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_429_headers_and_body_say_the_same_wait_and_the_client_fails(tight_port: int) -> None:
    api = client(tight_port)
    assert api.create_contact(VALID) is True
    assert api.create_contact(VALID) is True
    with pytest.raises(KeyError):  # 429 is not its 400/409 either
        api.create_contact(VALID)
    refused = httpx.post(f"http://127.0.0.1:{tight_port}/v3/contacts", json=VALID,
                         headers={"X-Auth-Token": f"api-key {KEY}"}, timeout=10)
    assert refused.status_code == 429
    body = refused.json()
    assert body["code"] == 1015
    wait = body["context"]["timeToReset"]
    assert wait == refused.headers["x-ratelimit-reset"]
    assert wait == f"{refused.headers['retry-after']} seconds"
    assert 590 <= int(refused.headers["retry-after"]) <= 600
    assert refused.headers["x-ratelimit-remaining"] == "0"
