"""The web backends (SPEC §5): ASGI middleware (Starlette, FastAPI), WSGI middleware (Flask),
rate limits (in memory and in a real Redis server), and `validator serve` as a real process on
loopback, checked with schemathesis and a bounded load test."""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi import Depends, FastAPI, Request
from loadgen import free_port, http_request, run_load, serve_process

from validator import Code, ErrorCatalog, ValidationOptions, ValidatorError
from validator.asgi import (
    ApiErrorException,
    Receive,
    Scope,
    Send,
    ValidBody,
    install_error_handler,
)
from validator.asgi import ValidationMiddleware as AsgiMiddleware
from validator.web import (
    Credential,
    GuardKeywords,
    GuardOptions,
    Limits,
    LookupCallback,
    MemoryRateLimiter,
    RedisRateLimiter,
    Refused,
    RequestGuard,
    Route,
    RouteTable,
    ServiceApp,
    create_app,
    key_file_check,
    openapi_document,
    related,
    unique,
)
from validator.wsgi import ValidationMiddleware as WsgiMiddleware

KEY = {"X-Auth-Token": "api-key k3yAbc123"}
JSON = {"Content-Type": "application/json"}
HEADERS = {**KEY, **JSON}
VALID = b'{"email":"john@example.com","campaign":{"campaignId":"pV3r"},"name":"J\xc3\xb3hn"}'
INVALID = b'{"email":"not an address","campaign":{"campaignId":""},"name":5}'
ERROR_KEYS = ["httpStatus", "code", "codeDescription", "message", "moreInfo", "context", "uuid"]


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def assert_error(response: httpx.Response | Any, code: int, status: int) -> dict[str, Any]:
    """The API's error body (SPEC §2): keys in order, status, JSON content type."""
    assert response.status_code == status, response.text if hasattr(response, "text") else ""
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = orjson.loads(response.get_data() if hasattr(response, "get_data")
                                        else response.content)
    assert list(body) == ERROR_KEYS
    assert body["httpStatus"] == status and body["code"] == code
    assert body["moreInfo"].endswith(f"#{code}")
    assert uuid.UUID(body["uuid"]).version == 4
    return body


# -- an ASGI app that echoes what it received ----------------------------------------------


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers with the raw body bytes it read and the parsed body the middleware left."""
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    validated = scope.get("state", {}).get("validated")
    payload = orjson.dumps({
        "raw": b"".join(chunks).decode(),
        "parsed": validated.body if validated else None,
        "params": validated.params if validated else None,
        "query": validated.query if validated else None,
        "credential": validated.credential.value if validated and validated.credential else None,
    })
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": payload})


def asgi_call(app: Any, method: str, path: str, *, content: Any = b"",
              headers: dict[str, str] | None = None) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            return await c.request(method, path, content=content, headers=headers or {})

    return asyncio.run(go())


# -- route table -------------------------------------------------------------------------


def test_route_table_matches_method_and_whole_segments() -> None:
    table = RouteTable.default()
    found = table.match("POST", "/v3/contacts/abc")
    assert found is not None and found.schema == "contacts.update"
    assert found.params == {"contactId": "abc"}
    tags = table.match("POST", "/v3/contacts/abc/tags")
    assert tags is not None and tags.schema == "contacts.upsert-tags"
    listed = table.match("GET", "/v3/contacts")
    assert listed is not None and listed.schema is None
    assert listed.route.query_schema == "contacts.list.query"
    batch = table.match("POST", "/v3/contacts/batch")  # a literal segment beats {contactId}
    assert batch is not None and batch.schema == "contacts.create-batch"
    stats = table.match("GET", "/v3/newsletters/statistics")
    assert stats is not None
    assert stats.route.query_schema == "newsletters.get-statistics-collection.query"
    assert table.match("PUT", "/v3/contacts") is None
    # Every generated request body has its route.
    assert {r.schema for r in table.routes if r.schema} >= {
        "contacts.create", "custom-fields.update", "newsletters.create", "suppressions.create",
        "search-contacts.search", "imports.create", "from-fields.create"}
    assert table.match("POST", "/v3/contactsX") is None
    assert table.match("POST", "/v3/contacts/a/b") is None
    dynamic = Route("POST", "/validate/{schema}", schema_param="schema")
    assert (m := dynamic.match("POST", "/validate/tags.create")) and m.schema == "tags.create"
    with pytest.raises(ValueError):
        Route("POST", "/x", "a", schema_param="b")


# -- ASGI --------------------------------------------------------------------------------


def test_asgi_valid_request_reaches_app_with_body_unchanged() -> None:
    app = AsgiMiddleware(echo)
    response = asgi_call(app, "POST", "/v3/contacts", content=VALID, headers=HEADERS)
    assert response.status_code == 200
    seen = response.json()
    assert seen["raw"].encode() == VALID  # byte for byte, non-ASCII included
    assert seen["parsed"] == orjson.loads(VALID)
    assert seen["credential"] == "k3yAbc123"
    update = asgi_call(app, "POST", "/v3/contacts/xY12", content=b'{"name":"Ann"}',
                       headers=HEADERS)
    assert update.json()["params"] == {"contactId": "xY12"}


def test_asgi_invalid_body_gets_the_error_body() -> None:
    response = asgi_call(AsgiMiddleware(echo), "POST", "/v3/contacts", content=INVALID,
                         headers=HEADERS)
    body = assert_error(response, 1000, 400)
    assert [e["fieldName"] for e in body["context"]] == [["email"], ["campaign", "campaignId"],
                                                         ["name"]]
    assert {e["code"] for e in body["context"]} == {1003, 1005, 1006}


def test_asgi_unrouted_requests_pass_through_untouched() -> None:
    response = asgi_call(AsgiMiddleware(echo), "POST", "/elsewhere", content=b"not json",
                         headers={"Content-Type": "text/plain"})
    assert response.status_code == 200 and response.json()["raw"] == "not json"


@pytest.mark.parametrize(("content_type", "why"), [
    ("text/plain", "Expected application/json"),
    (None, "no Content-Type"),
    ("application/json; charset=latin-1", "charset 'latin-1'"),
    ("application/json; charset=utf-16", "charset 'utf-16'"),
])
def test_asgi_content_type_and_charset_give_1021(content_type: str | None, why: str) -> None:
    headers = dict(KEY)
    if content_type is not None:
        headers["Content-Type"] = content_type
    response = asgi_call(AsgiMiddleware(echo), "POST", "/v3/contacts", content=VALID,
                         headers=headers)
    body = assert_error(response, 1021, 400)
    [entry] = body["context"]
    assert entry["validationType"] == "header" and entry["fieldName"] == ["Content-Type"]
    assert why in entry["errorDescription"]


def test_charset_utf8_is_accepted_and_bad_utf8_bytes_are_malformed_json() -> None:
    app = AsgiMiddleware(echo)
    ok = asgi_call(app, "POST", "/v3/contacts", content=VALID,
                   headers={**KEY, "Content-Type": "application/json; charset=UTF-8"})
    assert ok.status_code == 200
    bad = asgi_call(app, "POST", "/v3/contacts", content=b'{"email":"\xff"}', headers=HEADERS)
    body = assert_error(bad, 1000, 400)
    assert body["context"][0]["fieldName"] == []


@pytest.mark.parametrize(("headers", "auth_type"), [
    ({}, "auth_token"),
    ({"X-Auth-Token": "k3yAbc123"}, "auth_token"),
    ({"X-Auth-Token": "api-key "}, "auth_token"),
    ({"X-Auth-Token": "api-key two words"}, "auth_token"),
    # The published key pattern: 8 to 32 letters and digits.
    ({"X-Auth-Token": "api-key short7k"}, "auth_token"),
    ({"X-Auth-Token": "api-key " + "k" * 33}, "auth_token"),
    ({"X-Auth-Token": "api-key abc.def-123_x"}, "auth_token"),
    ({"Authorization": "Basic dXNlcjpwYXNz"}, "oauth2"),
    ({"Authorization": "Bearer"}, "oauth2"),
])
def test_asgi_missing_or_malformed_credentials_give_1014(headers: dict[str, str],
                                                          auth_type: str) -> None:
    response = asgi_call(AsgiMiddleware(echo), "POST", "/v3/contacts", content=VALID,
                         headers={**JSON, **headers})
    body = assert_error(response, 1014, 403)
    assert body["context"] == {"authenticationType": auth_type}


def test_bearer_token_and_case_insensitive_scheme_are_accepted() -> None:
    app = AsgiMiddleware(echo)
    for headers in ({"Authorization": "Bearer abc.DEF-123_x"},
                    {"X-Auth-Token": "API-KEY k1abcdef"}):
        assert asgi_call(app, "POST", "/v3/contacts", content=VALID,
                         headers={**JSON, **headers}).status_code == 200


def test_key_check_sync_async_and_key_file(tmp_path: Path) -> None:
    async def async_check(credential: Credential) -> bool:
        await asyncio.sleep(0)
        return credential.value == "goodKey01"

    keys = tmp_path / "keys.txt"
    keys.write_text("# keys\ngoodKey01  # the only one\n")
    for check in (lambda c: c.value == "goodKey01", async_check, key_file_check(keys)):
        app = AsgiMiddleware(echo, key_check=check)
        good = asgi_call(app, "POST", "/v3/contacts", content=VALID,
                         headers={**JSON, "X-Auth-Token": "api-key goodKey01"})
        assert good.status_code == 200
        bad = asgi_call(app, "POST", "/v3/contacts", content=VALID,
                        headers={**JSON, "Authorization": "Bearer other"})
        assert assert_error(bad, 1014, 403)["context"] == {"authenticationType": "oauth2"}


def test_require_auth_off_skips_1014() -> None:
    response = asgi_call(AsgiMiddleware(echo, require_auth=False), "POST", "/v3/contacts",
                         content=VALID, headers=JSON)
    assert response.status_code == 200


def test_body_over_the_limit_is_refused_by_declared_length_and_while_streaming() -> None:
    received: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(1000):
            received.append(1)
            yield b" " * 1000

    app = AsgiMiddleware(echo, max_body=4096)
    declared = asgi_call(app, "POST", "/v3/contacts", content=b" " * 5000, headers=HEADERS)
    body = assert_error(declared, 1007, 400)
    assert body["context"][0]["limits"] == {"max": 4096}
    streamed = asgi_call(app, "POST", "/v3/contacts", content=chunks(), headers=HEADERS)
    assert_error(streamed, 1007, 400)
    # The middleware stopped reading a few chunks past the limit, not at the end.
    assert len(received) < 20


def test_malformed_json_and_deep_nesting() -> None:
    app = AsgiMiddleware(echo, max_depth=8)
    bad = assert_error(asgi_call(app, "POST", "/v3/contacts", content=b'{"email": ',
                                 headers=HEADERS), 1000, 400)
    [entry] = bad["context"]
    assert entry["fieldName"] == [] and "char" in entry["errorDescription"]
    deep = b'{"email":"a@example.com","campaign":{"campaignId":"pV3r"},"x":' + b"[" * 20 \
        + b"]" * 20 + b"}"
    nested = assert_error(asgi_call(app, "POST", "/v3/contacts", content=deep, headers=HEADERS),
                          1000, 400)
    assert "deeper than 8" in nested["context"][0]["errorDescription"]
    # Far beyond any parser's recursion: still a clear 1000, never a 500.
    hostile = b"[" * 100_000 + b"]" * 100_000
    assert_error(asgi_call(AsgiMiddleware(echo, max_body=1 << 20), "POST", "/v3/contacts",
                           content=hostile, headers=HEADERS), 1000, 400)


def test_internal_fault_is_code_1_without_a_stack_trace(caplog: pytest.LogCaptureFixture
                                                        ) -> None:
    def broken(credential: Credential) -> bool:
        raise RuntimeError("secret detail")

    response = asgi_call(AsgiMiddleware(echo, key_check=broken), "POST", "/v3/contacts",
                         content=VALID, headers=HEADERS)
    body = assert_error(response, 1, 500)
    assert body["context"] == {}
    assert "secret" not in response.text and "Traceback" not in response.text
    assert "secret detail" in caplog.text  # logged for the operator


def test_engine_exception_becomes_code_1(monkeypatch: pytest.MonkeyPatch) -> None:
    guard = RequestGuard()

    async def explode(schema: str, data: Any) -> Any:
        raise KeyError("engine bug")

    monkeypatch.setattr(guard, "judge_async", explode)
    response = asgi_call(AsgiMiddleware(echo, guard), "POST", "/v3/contacts", content=VALID,
                         headers=HEADERS)
    assert assert_error(response, 1, 500)["context"] == {}


def _lookups(use_async: bool) -> list[Any]:
    campaigns = {"pV3r"}
    emails = {"taken@example.com"}

    async def exists_async(value: Any) -> bool:
        await asyncio.sleep(0)
        return value in campaigns

    async def taken_async(value: Any) -> bool:
        return value in emails

    def exists_sync(value: Any) -> bool:
        return value in campaigns

    def taken_sync(value: Any) -> bool:
        return value in emails

    exists: LookupCallback = exists_async if use_async else exists_sync
    taken: LookupCallback = taken_async if use_async else taken_sync

    def tag_store_down(value: Any) -> bool:
        raise ConnectionError("tag store down")

    return [related(["campaign", "campaignId"], exists, schemas=["contacts.create"]),
            unique(["email"], taken),
            related(["tags", "*", "tagId"], tag_store_down)]


@pytest.mark.parametrize("use_async", [False, True])
def test_lookups_1001_1008_and_failing_lookup_1010(use_async: bool) -> None:
    app = AsgiMiddleware(echo, lookups=_lookups(use_async))
    ok = asgi_call(app, "POST", "/v3/contacts", content=VALID, headers=HEADERS)
    assert ok.status_code == 200
    missing = asgi_call(app, "POST", "/v3/contacts", headers=HEADERS,
                        content=b'{"email":"a@example.com","campaign":{"campaignId":"zzz9"}}')
    entry = assert_error(missing, 1001, 400)["context"][0]
    assert entry["fieldName"] == ["campaign", "campaignId"] and entry["originalValue"] == "zzz9"
    taken = asgi_call(app, "POST", "/v3/contacts", headers=HEADERS,
                      content=b'{"email":"taken@example.com","campaign":{"campaignId":"pV3r"}}')
    assert assert_error(taken, 1008, 409)["context"][0]["fieldName"] == ["email"]
    mixed = asgi_call(app, "POST", "/v3/contacts", headers=HEADERS, content=(
        b'{"email":"taken@example.com","campaign":{"campaignId":"zzz9"},'
        b'"tags":[{"tagId":"aB1"}],"name":""}'))
    body = assert_error(mixed, 1000, 400)
    assert [(e["fieldName"], e["code"]) for e in body["context"]] == [
        (["email"], 1008), (["campaign", "campaignId"], 1001), (["tags", 0, "tagId"], 1010),
        (["name"], 1005)]
    # A value that already fails the schema is not looked up.
    invalid = asgi_call(app, "POST", "/v3/contacts", headers=HEADERS,
                        content=b'{"email":"taken@example.com","campaign":{"campaignId":""}}')
    assert [e["code"] for e in assert_error(invalid, 1000, 400)["context"]] == [1008, 1005]


def test_mx_check_in_a_request_has_a_budget_and_never_blocks_the_loop(black_hole: Any) -> None:
    guard = RequestGuard(validation=ValidationOptions.build(
        check_mx=True, nameservers=["127.0.0.1"], dns_port=black_hole.port, dns_timeout=5.0,
        dns_budget=0.5))
    app = ServiceApp(guard)

    async def go() -> tuple[httpx.Response, float, float]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            start = time.perf_counter()
            slow = asyncio.create_task(client.post("/v3/contacts", headers=HEADERS, content=(
                b'{"email":"a@never-answered.example","campaign":{"campaignId":"pV3r"}}')))
            await asyncio.sleep(0.05)
            health = await client.get("/health")
            assert health.status_code == 200
            health_at = time.perf_counter() - start
            response = await slow
            return response, health_at, time.perf_counter() - start

    response, health_at, total = asyncio.run(go())
    entry = assert_error(response, 1010, 400)["context"][0]
    assert entry["fieldName"] == ["email"]
    assert health_at < 0.4, "the event loop was blocked by the DNS check"
    assert total < 2.0


# -- FastAPI -----------------------------------------------------------------------------


def test_fastapi_middleware_and_dependency() -> None:
    app = FastAPI()
    app.add_middleware(AsgiMiddleware)
    install_error_handler(app)
    tags = ValidBody("tags.create")

    @app.post("/v3/contacts", status_code=202)
    async def create(request: Request) -> dict[str, Any]:
        return {"email": request.state.validated.body["email"]}

    @app.post("/mine/tags")
    async def make_tag(body: Any = Depends(tags)) -> dict[str, Any]:  # noqa: B008
        return {"got": body}

    ok = asgi_call(app, "POST", "/v3/contacts", content=VALID, headers=HEADERS)
    assert ok.status_code == 202 and ok.json() == {"email": "john@example.com"}
    assert_error(asgi_call(app, "POST", "/v3/contacts", content=INVALID, headers=HEADERS),
                 1000, 400)
    good = asgi_call(app, "POST", "/mine/tags", content=b'{"name":"vip_2024"}', headers=HEADERS)
    assert good.status_code == 200 and good.json() == {"got": {"name": "vip_2024"}}
    assert_error(asgi_call(app, "POST", "/mine/tags", content=b'{"name":"x"}', headers=HEADERS),
                 1007, 400)
    assert_error(asgi_call(app, "POST", "/mine/tags", content=b'{"name":"vip_2024"}',
                           headers=JSON), 1014, 403)


def test_starlette_app_with_the_middleware() -> None:
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.responses import JSONResponse
    from starlette.routing import Route as StarletteRoute

    async def create(request: Request) -> JSONResponse:
        raw = await request.body()
        return JSONResponse({"same": raw == VALID}, status_code=202)

    app = Starlette(routes=[StarletteRoute("/v3/contacts", create, methods=["POST"])],
                    middleware=[Middleware(AsgiMiddleware)])
    ok = asgi_call(app, "POST", "/v3/contacts", content=VALID, headers=HEADERS)
    assert ok.status_code == 202 and ok.json() == {"same": True}
    assert_error(asgi_call(app, "POST", "/v3/contacts", content=VALID, headers=KEY), 1021, 400)


# -- WSGI (Flask) ------------------------------------------------------------------------


def flask_app(**options: Any) -> Any:
    from flask import Flask, request

    app = Flask(__name__)

    @app.post("/v3/contacts")
    def create() -> tuple[dict[str, Any], int]:
        validated = request.environ["validator.validated"]
        return {"raw": request.get_data().decode(), "parsed": validated.body}, 202

    @app.get("/v3/contacts")
    def listed() -> tuple[dict[str, Any], int]:
        return {"query": request.environ["validator.validated"].query}, 200

    app.wsgi_app = WsgiMiddleware(app.wsgi_app, **options)  # type: ignore[method-assign]
    return app


def test_wsgi_flask_valid_invalid_headers_and_limits() -> None:
    client = flask_app(max_body=2048).test_client()
    ok = client.post("/v3/contacts", data=VALID, headers=HEADERS)
    assert ok.status_code == 202
    assert ok.json["raw"].encode() == VALID and ok.json["parsed"] == orjson.loads(VALID)
    assert_error(client.post("/v3/contacts", data=INVALID, headers=HEADERS), 1000, 400)
    assert_error(client.post("/v3/contacts", data=VALID, headers={**KEY, "Content-Type":
                                                                   "text/plain"}), 1021, 400)
    assert assert_error(client.post("/v3/contacts", data=VALID, headers=JSON), 1014,
                        403)["context"] == {"authenticationType": "auth_token"}
    assert_error(client.post("/v3/contacts", data=b"{" * 3000, headers=HEADERS), 1007, 400)
    assert_error(client.post("/v3/contacts", data=b'{"a":', headers=HEADERS), 1000, 400)


def test_query_strings_are_checked_against_the_operations_query_schema() -> None:
    app = AsgiMiddleware(echo)
    bad = asgi_call(app, "GET", "/v3/contacts?page=0&perPage=abc&sort[email]=DESC",
                    headers=KEY)
    body = assert_error(bad, 1000, 400)
    assert [(c["validationType"], c["fieldName"], c["code"]) for c in body["context"]] == [
        ("query", ["page"], 1003), ("query", ["perPage"], 1006)]
    ok = asgi_call(app, "GET", "/v3/contacts?page=2&query[email]=john&sort[email]=ASC",
                   headers=KEY)
    assert ok.status_code == 200, ok.text
    assert ok.json()["query"] == {"page": 2, "query": {"email": "john"},
                                  "sort": {"email": "ASC"}}
    assert_error(asgi_call(app, "GET", "/v3/contacts?page=0"), 1014, 403)
    # A route with both: the query's entries come first, then the body's.
    both = asgi_call(app, "POST", "/v3/campaigns/abc/blocklists?additionalFlags=sideways",
                     content=b'{"masks": 5}', headers=HEADERS)
    body = assert_error(both, 1000, 400)
    assert [(c["validationType"], c["fieldName"], c["code"]) for c in body["context"]] == [
        ("query", ["additionalFlags"], 1003), ("body", ["masks"], 1006)]
    assert asgi_call(app, "POST", "/v3/campaigns/abc/blocklists?additionalFlags=add,noResponse",
                     content=b'{"masks": ["@spam.example"]}', headers=HEADERS).status_code == 200
    only_query = asgi_call(app, "POST", "/v3/campaigns/abc/blocklists?additionalFlags=x",
                           content=b'{"masks": []}', headers=HEADERS)
    assert assert_error(only_query, 1003, 400)["context"][0]["validationType"] == "query"
    # WSGI, through Flask.
    client = flask_app().test_client()
    assert client.get("/v3/contacts?perPage=50", headers=KEY).json == {"query": {"perPage": 50}}
    refused = assert_error(client.get("/v3/contacts?perPage=5000", headers=KEY), 1003, 400)
    assert refused["context"][0]["limits"] == {"min": 1, "max": 1000}


def test_wsgi_chunked_body_is_read_only_up_to_the_limit() -> None:
    class Endless(io.RawIOBase):
        """A chunked request body that never ends; counts what was read from it."""

        read_bytes = 0

        def read(self, size: int = -1) -> bytes:
            size = 65536 if size is None or size < 0 else size
            self.read_bytes += size
            return b" " * size

    def never(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        raise AssertionError("the application must not be reached")

    body = Endless()
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/v3/contacts", "wsgi.input": body,
               "wsgi.input_terminated": True, "CONTENT_TYPE": "application/json",
               "HTTP_TRANSFER_ENCODING": "chunked", "HTTP_X_AUTH_TOKEN": "api-key k3yAbc123"}
    answered: list[Any] = []

    def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None, /
              ) -> Callable[[bytes], object]:
        answered.append((status, headers))
        return lambda data: None

    chunks = WsgiMiddleware(never, max_body=10_000)(environ, start)
    assert answered[0][0] == "400 Bad Request"
    assert orjson.loads(b"".join(chunks))["code"] == 1007
    assert body.read_bytes <= 10_001


def test_wsgi_async_callbacks_and_internal_fault() -> None:
    async def only_good(credential: Credential) -> bool:
        return credential.value == "goodKey01"

    client = flask_app(key_check=only_good, lookups=_lookups(True)).test_client()
    good = {**JSON, "X-Auth-Token": "api-key goodKey01"}
    assert client.post("/v3/contacts", data=VALID, headers=good).status_code == 202
    assert_error(client.post("/v3/contacts", data=VALID, headers=HEADERS), 1014, 403)
    missing = client.post("/v3/contacts", headers=good,
                          data=b'{"email":"a@example.com","campaign":{"campaignId":"zzz9"}}')
    assert_error(missing, 1001, 400)

    def broken(credential: Credential) -> bool:
        raise RuntimeError("secret detail")

    fault = flask_app(key_check=broken).test_client().post("/v3/contacts", data=VALID,
                                                           headers=HEADERS)
    assert assert_error(fault, 1, 500)["context"] == {}
    assert b"secret" not in fault.get_data()


# -- one set of options for every backend --------------------------------------------------


async def asgi_ok(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def wsgi_ok(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Length", "0")])
    return [b""]


Request_ = tuple[str, str, bytes, dict[str, str]]
Answer = tuple[int, str | None, str | None, Any]

# Requests that between them reach every rule: auth and the key check, content headers, size,
# JSON, nesting, the schema, lookups (one failing), the query schema, query and body together.
EVERY_RULE: list[Request_] = [
    ("POST", "/v3/contacts", VALID, HEADERS),
    ("POST", "/v3/contacts", INVALID, HEADERS),
    ("POST", "/v3/contacts", VALID, JSON),
    ("POST", "/v3/contacts", VALID, {**JSON, "Authorization": "Bearer revoked"}),
    ("POST", "/v3/contacts", VALID, {**KEY, "Content-Type": "text/plain"}),
    ("POST", "/v3/contacts", b" " * 3000, HEADERS),
    ("POST", "/v3/contacts", b'{"email": ', HEADERS),
    ("POST", "/v3/contacts", b'{"email":"a@example.com","x":' + b"[" * 9 + b"]" * 9 + b"}",
     HEADERS),
    ("POST", "/v3/contacts", b'{"email":"a@example.com","campaign":{"campaignId":"zzz9"}}',
     HEADERS),
    ("POST", "/v3/contacts", b'{"email":"taken@example.com","campaign":{"campaignId":"pV3r"},'
                             b'"tags":[{"tagId":"aB1"}]}', HEADERS),
    ("GET", "/v3/contacts?perPage=5000&page=0", b"", KEY),
    ("POST", "/v3/campaigns/abc/blocklists?additionalFlags=sideways", b'{"masks": 5}',
     HEADERS),
]


def _answer(response: httpx.Response) -> Answer:
    body = orjson.loads(response.content) if response.content else None
    if body is not None:
        assert uuid.UUID(body.pop("uuid")).version == 4  # the one part that differs
    return (response.status_code, response.headers.get("content-type"),
            response.headers.get("x-ratelimit-remaining"), body)


def _both(asgi_app: Any, wsgi_app: Any, requests: list[Request_]
          ) -> tuple[list[Answer], list[Answer]]:
    """What an ASGI and a WSGI app answer to the same requests, sent the same way."""

    async def through_asgi() -> list[Answer]:
        transport = httpx.ASGITransport(app=asgi_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return [_answer(await client.request(method, path, content=body, headers=headers))
                    for method, path, body, headers in requests]

    with httpx.Client(transport=httpx.WSGITransport(app=wsgi_app), base_url="http://t") as c:
        wsgi = [_answer(c.request(method, path, content=body, headers=headers))
                for method, path, body, headers in requests]
    return asyncio.run(through_asgi()), wsgi


def test_one_options_object_gives_both_adapters_the_same_answers() -> None:
    options = GuardOptions(key_check=lambda credential: credential.value != "revoked",
                           max_body=2048, max_depth=6, lookups=tuple(_lookups(False)),
                           validation=ValidationOptions(always_combine=True))
    asgi, wsgi = _both(AsgiMiddleware(asgi_ok, options), WsgiMiddleware(wsgi_ok, options),
                       EVERY_RULE)
    assert asgi == wsgi
    # always_combine: a single 1001 or 1003 is answered 1000, as the live API does.
    assert [(status, body and body["code"]) for status, _, _, body in asgi] == [
        (200, None), (400, Code.VALIDATION_ERROR), (403, Code.AUTHENTICATION),
        (403, Code.AUTHENTICATION), (400, Code.BAD_HEADERS), (400, Code.WRONG_LENGTH),
        *[(400, Code.VALIDATION_ERROR)] * 6]
    assert [e["code"] for e in asgi[8][3]["context"]] == [Code.RELATED_NOT_FOUND]
    assert [e["code"] for e in asgi[9][3]["context"]] == [Code.NOT_UNIQUE, Code.EXTERNAL_ERROR]
    assert all(content_type == "application/json" for status, content_type, _, _ in asgi
               if status != 200)

    # The same rate limits (a limiter for each adapter): the same counts, the same 1015.
    def limited() -> GuardOptions:
        return replace(options, rate_limiter=MemoryRateLimiter(Limits(per_second=100,
                                                                      per_window=4)))

    asgi, wsgi = _both(AsgiMiddleware(asgi_ok, limited()), WsgiMiddleware(wsgi_ok, limited()),
                       [EVERY_RULE[i] for i in (0, 1, 3, 0, 0, 0)])
    assert asgi == wsgi
    assert [(status, remaining) for status, _, remaining, _ in asgi] == [
        (200, "3"), (400, "2"), (403, None), (200, "1"), (200, "0"), (429, "0")]
    assert asgi[-1][3]["context"] == {"currentLimit": 4, "timeToReset": "600 seconds"}


def test_the_documented_keywords_still_configure_every_backend(tmp_path: Path) -> None:
    def check(credential: Credential) -> bool:
        return credential.value == "goodKey01"

    limiter = MemoryRateLimiter()
    lookups = _lookups(False)
    keywords: GuardKeywords = {
        "routes": [("POST", "/mine/{id}", "tags.create")], "require_auth": False,
        "key_check": check, "rate_limiter": limiter, "max_body": 4096, "max_depth": 8,
        "lookups": lookups, "validation": ValidationOptions(always_combine=True)}
    guards = [AsgiMiddleware(echo, **keywords).guard, WsgiMiddleware(wsgi_ok, **keywords).guard,
              ValidBody("tags.create", **keywords).guard, RequestGuard(**keywords),
              ServiceApp(**keywords).guard]
    for guard in guards:
        options = guard.options
        assert (options.require_auth, options.key_check, options.rate_limiter,
                options.max_body, options.max_depth, options.lookups) == (
            False, check, limiter, 4096, 8, tuple(lookups))
        assert options.validation.always_combine and guard.validation.always_combine
        assert (found := guard.routes.match("POST", "/mine/x")) and found.schema == "tags.create"
    # The keywords and the object they stand for make the same options (a route table has
    # no equality of its own; its routes do).
    built = GuardOptions.build(**keywords)
    written = GuardOptions(routes=RouteTable([Route("POST", "/mine/{id}", "tags.create")]),
                           require_auth=False, max_body=4096, max_depth=8,
                           lookups=tuple(lookups),
                           validation=ValidationOptions(always_combine=True))
    assert guards[0].options.routes and built.routes and written.routes
    assert guards[0].options.routes.routes == built.routes.routes == written.routes.routes
    assert replace(guards[0].options, routes=None) == replace(built, routes=None) == replace(
        written, routes=None)
    assert set(GuardKeywords.__annotations__) == set(GuardOptions.__dataclass_fields__)
    # Starlette's add_middleware() passes keywords through to the middleware.
    app = FastAPI()
    app.add_middleware(AsgiMiddleware, max_body=64)
    app.post("/v3/contacts")(lambda: None)
    assert_error(asgi_call(app, "POST", "/v3/contacts", content=VALID, headers=HEADERS),
                 Code.WRONG_LENGTH, 400)
    # create_app: serve's own options, then the guard's keywords, typed.
    keys = tmp_path / "keys.txt"
    keys.write_text("goodKey01\n")
    service = create_app(key_file=str(keys), rate_limit=True, max_body=4096,
                         validation=ValidationOptions(always_combine=True))
    assert isinstance(service.guard.rate_limiter, MemoryRateLimiter)
    assert service.guard.max_body == 4096 and service.guard.validation.always_combine
    assert service.guard.routes.match("POST", "/validate/tags.create") is not None
    assert asgi_call(service, "POST", "/validate/tags.create", content=b'{"name":"vip_2024"}',
                     headers={**JSON, "X-Auth-Token": "api-key goodKey01"}).status_code == 200
    assert_error(asgi_call(service, "POST", "/validate/tags.create",
                           content=b'{"name":"vip_2024"}', headers=HEADERS),
                 Code.AUTHENTICATION, 403)
    assert create_app(require_auth=False).guard.require_auth is False


def test_options_are_checked_once_for_every_backend() -> None:
    with pytest.raises(TypeError, match=r"unknown option.*validator_options.*known: "):
        AsgiMiddleware(echo, validator_options={"check_mx": True})  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=r"max_body.*ready RequestGuard"):
        WsgiMiddleware(wsgi_ok, RequestGuard(), max_body=10)
    for bad in ({"max_body": -1}, {"max_depth": 0}, {"lookups": ["email"]},
                {"validation": {"check_mx": True}}):
        with pytest.raises(ValueError) as caught:
            GuardOptions.build(**bad)
        assert isinstance(caught.value, ValidatorError)
    # One catalog for every answer, given either way: the guard's own errors and the schemas'.
    base = "https://docs.example/errors#"
    catalog = ErrorCatalog(more_info_base=base)
    for options in (GuardOptions(catalog=catalog),
                    GuardOptions(validation=ValidationOptions(catalog=catalog))):
        app = AsgiMiddleware(echo, options)
        for content, headers, code, status in ((VALID, JSON, Code.AUTHENTICATION, 403),
                                               (INVALID, HEADERS, Code.VALIDATION_ERROR, 400)):
            body = assert_error(asgi_call(app, "POST", "/v3/contacts", content=content,
                                          headers=headers), code, status)
            assert body["moreInfo"] == f"{base}{code}"


def test_one_exception_for_every_refusal() -> None:
    assert ApiErrorException is Refused
    assert issubclass(ApiErrorException, ValidatorError)
    guard = RequestGuard()
    with pytest.raises(ApiErrorException) as caught:
        guard.credential({})
    assert caught.value.error.code == Code.AUTHENTICATION and caught.value.headers == []
    with pytest.raises(ValidatorError) as unknown:
        guard.validator("no.such")
    assert isinstance(unknown.value, ApiErrorException)
    assert unknown.value.error.code == Code.NOT_FOUND
    # What ValidBody raises and what an endpoint raises itself, rendered by one handler.
    app = FastAPI()
    install_error_handler(app)
    tags = ValidBody("tags.create", guard)

    @app.post("/mine/tags")
    async def make_tag(body: Any = Depends(tags)) -> None:  # noqa: B008
        raise ApiErrorException(guard.error(Code.NOT_UNIQUE, "Tag exists", {"name": "vip"}),
                                [("Retry-After", "1")])

    refused = asgi_call(app, "POST", "/mine/tags", content=b'{"name":"x"}', headers=HEADERS)
    assert_error(refused, Code.WRONG_LENGTH, 400)
    own = asgi_call(app, "POST", "/mine/tags", content=b'{"name":"vip_2024"}', headers=HEADERS)
    assert assert_error(own, Code.NOT_UNIQUE, 409)["context"] == {"name": "vip"}
    assert own.headers["retry-after"] == "1"


# -- rate limits -------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_memory_rate_limits_per_second_per_window_and_headers() -> None:
    clock = Clock()
    limiter = MemoryRateLimiter(Limits(per_second=3, per_window=5, window=600), clock=clock)
    first = limiter.acquire("k")
    assert first.allowed and first.headers() == [
        ("x-ratelimit-limit", "5"), ("x-ratelimit-remaining", "4"),
        ("x-ratelimit-reset", "600 seconds")]
    limiter.release("k")
    for _ in range(2):
        assert limiter.acquire("k").allowed
        limiter.release("k")
    over = limiter.acquire("k")
    assert not over.allowed and over.exceeded == "second" and over.current_limit == 3
    clock.now += 1.0
    for _ in range(2):
        assert limiter.acquire("k").allowed
        limiter.release("k")
    clock.now += 167.6
    quota = limiter.acquire("k")
    assert not quota.allowed and quota.exceeded == "window"
    body = quota.error(RequestGuard().catalog).to_dict()
    assert body["code"] == 1015 and body["httpStatus"] == 429
    assert body["context"] == {"currentLimit": 5, "timeToReset": "432 seconds"}
    assert limiter.acquire("other").allowed  # per key
    clock.now += 432
    assert limiter.acquire("k").allowed


def test_published_limits_are_the_default() -> None:
    assert Limits() == Limits(per_second=80, per_window=30_000, window=600.0, concurrent=10)


def _blocking_app(gate: threading.Event) -> Any:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        while not gate.is_set():
            await asyncio.sleep(0.005)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    return app


def _concurrency_check(limiter: Any) -> None:
    gate = threading.Event()
    app = AsgiMiddleware(_blocking_app(gate), rate_limiter=limiter)

    async def go() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            slow = [asyncio.create_task(client.post("/v3/contacts", content=VALID,
                                                    headers=HEADERS)) for _ in range(3)]
            await asyncio.sleep(0.2)
            refused = await client.post("/v3/contacts", content=VALID, headers=HEADERS)
            gate.set()
            done = await asyncio.gather(*slow)
            after = await client.post("/v3/contacts", content=VALID, headers=HEADERS)
            return [refused, *done, after]

    refused, *done, after = asyncio.run(go())
    body = assert_error(refused, 1015, 429)
    assert body["context"]["currentLimit"] == 3
    assert refused.headers["x-ratelimit-limit"] == "1000"
    assert all(r.status_code == 200 for r in done)
    assert done[0].headers["x-ratelimit-reset"].endswith(" seconds")
    assert after.status_code == 200  # the slots were given back


def test_asgi_concurrency_limit_memory() -> None:
    _concurrency_check(MemoryRateLimiter(Limits(per_second=100, per_window=1000,
                                                concurrent=3)))


def test_wsgi_rate_limit_headers_and_1015() -> None:
    limiter = MemoryRateLimiter(Limits(per_second=100, per_window=2))
    client = flask_app(rate_limiter=limiter).test_client()
    first = client.post("/v3/contacts", data=VALID, headers=HEADERS)
    assert first.status_code == 202 and first.headers["X-RateLimit-Remaining"] == "1"
    assert client.post("/v3/contacts", data=VALID, headers=HEADERS).status_code == 202
    third = client.post("/v3/contacts", data=VALID, headers=HEADERS)
    assert assert_error(third, 1015, 429)["context"]["currentLimit"] == 2
    assert third.headers["X-RateLimit-Remaining"] == "0"
    # The concurrency slot is given back once the server closes the response (PEP 3333);
    # `buffered=True` makes the test client close it as a server does after sending.
    slots = MemoryRateLimiter(Limits(per_second=100, per_window=100, concurrent=2))
    sequential = flask_app(rate_limiter=slots).test_client()
    for _ in range(6):
        assert sequential.post("/v3/contacts", data=VALID, headers=HEADERS,
                               buffered=True).status_code == 202
    open_responses = [sequential.post("/v3/contacts", data=VALID, headers=HEADERS)
                      for _ in range(3)]
    assert [r.status_code for r in open_responses] == [202, 202, 429]
    for response in open_responses:
        response.close()
    assert sequential.post("/v3/contacts", data=VALID, headers=HEADERS,
                           buffered=True).status_code == 202


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private redis-server on a free loopback port (never the system's 6379)."""
    binary = shutil.which("redis-server") or shutil.which("redis-server", path="/usr/sbin:/sbin")
    if binary is None:
        message = "redis-server is not installed (Debian package redis-server)"
        if _in_ci():
            pytest.fail(message + "; CI must install it", pytrace=False)
        pytest.skip(message + ": the Redis rate-limit cases cannot run")
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(workdir), "--protected-mode", "yes"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    import redis

    client = redis.Redis.from_url(url)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or process.poll() is not None:
                    pytest.fail(f"redis-server did not start on port {port}", pytrace=False)
                time.sleep(0.05)
        yield url
    finally:
        client.close()
        process.terminate()
        process.wait(10)


def test_redis_rate_limits_are_shared_between_workers(redis_url: str) -> None:
    limits = Limits(per_second=3, per_window=4, window=600)
    prefix = f"t{uuid.uuid4().hex[:8]}:"
    worker_a = RedisRateLimiter(redis_url, limits, prefix=prefix)
    worker_b = RedisRateLimiter(redis_url, limits, prefix=prefix)
    try:
        decisions = [w.acquire("key") for w in (worker_a, worker_b, worker_a)]
        for w in (worker_a, worker_b, worker_a):
            w.release("key")
        assert all(d.allowed for d in decisions)
        assert [d.remaining for d in decisions] == [3, 2, 1]
        over = worker_b.acquire("key")
        assert not over.allowed and over.exceeded == "second" and over.current_limit == 3
        time.sleep(1.05)
        assert worker_b.acquire("key").allowed
        worker_b.release("key")
        quota = worker_a.acquire("key")
        assert not quota.allowed and quota.exceeded == "window"
        assert quota.current_limit == 4 and 590 < quota.time_to_reset <= 600
        assert quota.headers()[1] == ("x-ratelimit-remaining", "0")
        assert worker_a.acquire("another key").allowed
        # The key is stored hashed, never as sent.
        keys = worker_a._sync.keys(f"{prefix}*")
        assert keys and not any(b"key" in k.removeprefix(prefix.encode()) for k in keys)
    finally:
        worker_a.close()
        worker_b.close()


def test_redis_concurrency_limit_through_asgi(redis_url: str) -> None:
    limiter = RedisRateLimiter(redis_url, Limits(per_second=100, per_window=1000, concurrent=3),
                               prefix=f"c{uuid.uuid4().hex[:8]}:")
    _concurrency_check(limiter)
    # A second event loop gets its own connection instead of reusing the closed loop's one.
    response = asgi_call(AsgiMiddleware(echo, rate_limiter=limiter), "POST", "/v3/contacts",
                         content=VALID, headers=HEADERS)
    assert response.status_code == 200 and response.headers["x-ratelimit-remaining"] == "995"
    limiter.close()


def test_redis_through_wsgi_and_unreachable_store_is_1019(redis_url: str) -> None:
    limiter = RedisRateLimiter(redis_url, Limits(per_second=100, per_window=1),
                               prefix=f"w{uuid.uuid4().hex[:8]}:")
    client = flask_app(rate_limiter=limiter).test_client()
    assert client.post("/v3/contacts", data=VALID, headers=HEADERS).status_code == 202
    assert_error(client.post("/v3/contacts", data=VALID, headers=HEADERS), 1015, 429)
    limiter.close()
    down = RedisRateLimiter(f"redis://127.0.0.1:{free_port()}/0")
    response = flask_app(rate_limiter=down).test_client().post("/v3/contacts", data=VALID,
                                                               headers=HEADERS)
    assert_error(response, 1019, 503)


# -- the service ---------------------------------------------------------------------------


def test_openapi_document_bundles_the_shipped_schemas() -> None:
    from jsonschema import Draft202012Validator

    app = ServiceApp()
    document = openapi_document(app.guard.registry, app.guard.routes.routes)
    schemas = document["components"]["schemas"]
    assert {"contacts.create", "custom-fields.create", "newsletters.create"} <= schemas.keys()
    text = orjson.dumps(document).decode()
    assert '"$ref":"_' not in text and "$id" not in text
    assert document["paths"]["/v3/contacts"]["post"]["responses"].keys() == {"202", "default"}
    # Every $ref points into components, and each component is a valid JSON Schema.
    for name, schema in schemas.items():
        Draft202012Validator.check_schema(schema)
        assert name
    refs = {r.split('"')[0] for r in text.split('"$ref":"')[1:]}
    assert all(r.startswith("#/components/schemas/") and r.rsplit("/", 1)[1] in schemas
               for r in refs)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`validator serve` as a real process on a free loopback port."""
    keys = tmp_path_factory.mktemp("keys") / "keys.txt"
    keys.write_text("k3yAbc123\n")
    with serve_process(key_file=keys) as port:
        yield f"http://127.0.0.1:{port}"


def test_serve_answers_routes_validate_health_and_openapi(service: str) -> None:
    with httpx.Client(base_url=service, timeout=5) as client:
        created = client.post("/v3/contacts", content=VALID, headers=HEADERS)
        assert created.status_code == 202 and created.content == b""
        updated = client.post("/v3/contacts/abc1", content=b'{"name":"Ann"}', headers=HEADERS)
        assert updated.status_code == 200 and updated.content == b""
        assert client.post("/validate/tags.create", content=b'{"name":"vip_2024"}',
                           headers=HEADERS).status_code == 200
        assert_error(client.post("/validate/tags.create", content=b'{"name":"x"}',
                                 headers=HEADERS), 1007, 400)
        assert_error(client.post("/validate/no.such", content=b"{}", headers=HEADERS),
                     1013, 404)
        assert_error(client.post("/v3/contacts", content=INVALID, headers=HEADERS), 1000, 400)
        # The key file is in force: a well-formed but unknown key is refused.
        assert_error(client.post("/v3/contacts", content=VALID,
                                 headers={**JSON, "X-Auth-Token": "api-key other1xyz"}), 1014, 403)
        assert_error(client.get("/nowhere"), 1013, 404)
        health = client.get("/health")
        assert health.json()["status"] == "ok"
        document = client.get("/openapi.json").json()
        assert document["openapi"].startswith("3.1")
        listing = document["paths"]["/v3/contacts"]["get"]
        assert "requestBody" not in listing
        assert {"page", "perPage", "query[createdOn][from]", "sort[email]"} <= {
            p["name"] for p in listing["parameters"] if p["in"] == "query"}
        assert client.get("/v3/contacts?page=1", headers=KEY).status_code == 200
        assert_error(client.get("/v3/contacts?page=-1", headers=KEY), 1003, 400)


def test_schemathesis_finds_no_500_and_no_undocumented_shape(service: str) -> None:
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.core.result import Ok
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    schema = schemathesis.openapi.from_url(f"{service}/openapi.json")
    checks = [not_a_server_error, status_code_conformance, content_type_conformance,
              response_schema_conformance]
    operations = list(schema.get_all_operations())
    assert len(operations) >= 9
    calls = 0
    for result in operations:
        assert isinstance(result, Ok), result
        operation = result.ok()

        @settings(max_examples=10, deadline=None, derandomize=True, database=None,
                  phases=[Phase.explicit, Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            # Half the cases carry the key the service accepts (so bodies get checked), half
            # the generated one (refused with 1014).
            nonlocal calls
            calls += 1
            if case.headers is not None and calls % 2:
                case.headers["X-Auth-Token"] = "api-key k3yAbc123"
            case.call_and_validate(checks=checks, timeout=5)

        run()


def test_bounded_load_valid_and_invalid_contacts(service: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    host, port = service.removeprefix("http://").split(":")
    lines = []
    for label, body, status in (("valid contact", VALID, 202), ("invalid contact", INVALID,
                                                                  400)):
        stats = run_load(host, int(port), http_request("POST", "/v3/contacts", body, HEADERS),
                         total=3000, concurrency=16, time_limit=4.0)
        assert stats.requests > 100 and set(stats.statuses) == {status}
        lines.append(stats.line(f"serve {label}"))
    with capsys.disabled():
        print("\n" + "\n".join(lines))
