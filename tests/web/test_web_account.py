"""The account's rules in the web backends: ASGI and WSGI middleware with an account in their
validation options, and `validator serve --account` as a real process on loopback."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import httpx
import orjson
from loadgen import serve_process

from validator import Account, ValidationOptions
from validator.asgi import Receive, Scope, Send
from validator.asgi import ValidationMiddleware as AsgiMiddleware
from validator.wsgi import ValidationMiddleware as WsgiMiddleware

ACCOUNT = {"campaigns": [{"campaignId": "V3J"}], "tags": [{"tagId": "vBd5"}],
           "customFields": [{"customFieldId": "fPh", "name": "office_phone", "type": "phone",
                             "format": "text", "values": []}]}
HEADERS = {"X-Auth-Token": "api-key k3yAbc123", "Content-Type": "application/json"}
GOOD = {"email": "john@example.com", "campaign": {"campaignId": "V3J"},
        "customFieldValues": [{"customFieldId": "fPh", "value": ["+48600100200"]}]}
BAD = {"email": "john@example.com", "campaign": {"campaignId": "nope"},
       "tags": [{"tagId": "zzz"}],
       "customFieldValues": [{"customFieldId": "fPh", "value": ["12345"]}]}
BAD_ENTRIES = [(["campaign", "campaignId"], 1001), (["tags", 0, "tagId"], 1001),
               (["customFieldValues", 0, "value", 0], 1003)]


async def accepted(scope: Scope, receive: Receive, send: Send) -> None:
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 202, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def _entries(body: dict[str, Any]) -> list[tuple[list[Any], int]]:
    return [(e["fieldName"], e["code"]) for e in body["context"]]


def test_asgi_middleware_checks_against_the_account() -> None:
    app = AsgiMiddleware(accepted, validation=ValidationOptions(account=Account(
        campaigns=ACCOUNT["campaigns"], tags=ACCOUNT["tags"],
        custom_fields=ACCOUNT["customFields"])))

    async def go(payload: Any) -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.post("/v3/contacts", content=orjson.dumps(payload),
                                     headers=HEADERS)

    assert asyncio.run(go(GOOD)).status_code == 202
    refused = asyncio.run(go(BAD))
    assert refused.status_code == 400 and refused.json()["code"] == 1000
    assert _entries(refused.json()) == BAD_ENTRIES


def test_wsgi_middleware_checks_against_the_account(tmp_path: Path) -> None:
    from flask import Flask

    path = tmp_path / "account.json"
    path.write_text(json.dumps(ACCOUNT))
    app = Flask(__name__)

    @app.post("/v3/contacts")
    def create() -> tuple[str, int]:
        return "", 202

    app.wsgi_app = WsgiMiddleware(  # type: ignore[method-assign]
        app.wsgi_app, validation=ValidationOptions(account=Account.load(path)))
    client = app.test_client()
    assert client.post("/v3/contacts", data=orjson.dumps(GOOD), headers=HEADERS).status_code \
        == 202
    refused = client.post("/v3/contacts", data=orjson.dumps(BAD), headers=HEADERS)
    assert refused.status_code == 400 and _entries(refused.json) == BAD_ENTRIES  # type: ignore[arg-type]


def test_serve_with_an_account(tmp_path: Path) -> None:
    path = tmp_path / "account.json"
    path.write_text(json.dumps(ACCOUNT))
    with serve_process("--no-auth", "--account", str(path)) as port:
        def post(payload: Any) -> tuple[int, Any]:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/v3/contacts", data=orjson.dumps(payload),
                headers={"Content-Type": "application/json"}, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    return response.status, None
            except urllib.error.HTTPError as exc:
                return exc.code, json.loads(exc.read())

        assert post(GOOD) == (202, None)
        status, body = post(BAD)
        assert status == 400 and _entries(body) == BAD_ENTRIES
