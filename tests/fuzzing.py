"""The fuzz oracles and drivers, shared by `tests/test_fuzz.py` (hypothesis, bounded for CI)
and `benchmarks/fuzz.py` (a seeded `random` generator, for millions of inputs).

Each target is a driver (`api_call`, `user_schema_call`, `batch_call`, `asgi_call`,
`wsgi_call`) that feeds one concrete input and raises `Broken` when a property breaks (SPEC
§2, §4, §5, §6, §8): an undocumented exception, an error body that is not the API's, a web
answer outside the catalog or an internal fault, a batch row lost. Every call runs under an
alarm, so a hang is a failure with its input, not a stuck run.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from types import FrameType
from typing import Any

from werkzeug.test import Client

import validator
from validator import (
    Code,
    ErrorCatalog,
    InputError,
    Result,
    SchemaError,
    SchemaRegistry,
    Validator,
    ValidatorError,
)
from validator.asgi import ValidationMiddleware as AsgiMiddleware
from validator.batch import RunConfig
from validator.batch import run as batch_run
from validator.web import GuardOptions, MemoryRateLimiter, RouteTable
from validator.wsgi import ValidationMiddleware as WsgiMiddleware

# A call that takes longer than this is interrupted and counts as a hang. Generous: the CI
# machine is shared; the fuzz run sets its own (it reports calls over 1 s separately).
HANG_SECONDS = float(os.environ.get("FUZZ_HANG_SECONDS", "5"))

CATALOG = ErrorCatalog()
STATUSES = frozenset(entry.http_status for entry in CATALOG.values())
ERROR_KEYS = ["httpStatus", "code", "codeDescription", "message", "moreInfo", "context", "uuid"]
CONTEXT_KEYS = ["validationType", "fieldName", "originalValue", "errorDescription", "code"]
# Codes whose context is a list of failures (SPEC §2); 1000 also heads malformed-JSON entries.
VALIDATION_CODES = frozenset(range(Code.VALIDATION_ERROR, Code.EXTERNAL_ERROR + 1))
# SPEC §2 names body, query and header; "path" is the same entry for a path parameter (a
# resource ID in the route, README "Methods and path parameters"), where SPEC is silent.
VALIDATION_TYPES = frozenset({"body", "query", "header", "path"})
APP_STATUS = 299  # the wrapped applications' own answer, distinct from every catalog status
APP_BODY = b'{"app":true}'
KEY = "k3yAbc123"


class Broken(AssertionError):
    """A property that does not hold; `kind` groups the fuzz run's counts."""

    def __init__(self, kind: str, detail: str = "", amount: int = 1) -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.amount = amount  # how many rows a "rows lost" input lost


class Hang(Exception):
    """A call that did not return within HANG_SECONDS."""


def describe(exc: BaseException) -> str:
    """An exception as one short line: its kind for the fuzz run's counts."""
    if isinstance(exc, Broken):
        return exc.kind
    text = str(exc).splitlines()[0][:70] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@contextmanager
def time_limit(seconds: float | None = None) -> Iterator[None]:
    """Interrupt the block with Hang after `seconds` (the main thread only: that is where
    signals are delivered). Python's regex engines check for signals while they backtrack."""
    limit = HANG_SECONDS if seconds is None else seconds
    if threading.current_thread() is not threading.main_thread() or limit <= 0:
        yield
        return

    def alarm(signum: int, frame: FrameType | None) -> None:
        raise Hang(f"no answer within {limit:g} s")

    # Hypothesis raises the recursion limit for itself; the code under test gets the headroom
    # a fresh process has (CPython's default 1000 frames), so that runaway recursion is a
    # RecursionError, as in production, and not a C stack overflow that kills the run.
    frame: FrameType | None = sys._getframe()
    depth = 0
    while frame is not None:
        frame, depth = frame.f_back, depth + 1
    recursion = sys.getrecursionlimit()
    sys.setrecursionlimit(depth + 1000)
    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        sys.setrecursionlimit(recursion)


# --------------------------------------------------------------------------------------------
# Properties of an error body (SPEC §2, §4)
# --------------------------------------------------------------------------------------------


def check_body(body: Any, status: int | None = None) -> None:
    """An error body as parsed JSON: keys in order, catalog code, status and title, the
    context's shape, and the combination rule of SPEC §4."""
    if not isinstance(body, dict):
        raise Broken("body is not an object", repr(body)[:200])
    if list(body) != ERROR_KEYS:
        raise Broken("body keys out of order", repr(list(body)))
    code = body["code"]
    if not isinstance(code, int) or code not in CATALOG:
        raise Broken("code not in the catalog", repr(code))
    entry = CATALOG[code]
    if body["httpStatus"] != entry.http_status or (status is not None and status
                                                   != entry.http_status):
        raise Broken("status differs from the catalog's",
                     f"code {code}: body {body['httpStatus']}, response {status}")
    if body["codeDescription"] != entry.title:
        raise Broken("title differs from the catalog's", f"code {code}")
    if body["moreInfo"] != CATALOG.more_info(code):
        raise Broken("moreInfo is not the code's link", repr(body["moreInfo"]))
    if not isinstance(body["message"], str) or not body["message"]:
        raise Broken("message is not a sentence", repr(body["message"]))
    try:
        version = uuid.UUID(body["uuid"]).version
    except (TypeError, ValueError, AttributeError):
        version = None
    if version != 4 or body["uuid"] != body["uuid"].lower():
        raise Broken("uuid is not a lowercase UUID4", repr(body["uuid"]))
    context = body["context"]
    if code == Code.INTERNAL_ERROR:
        raise Broken("internal fault (code 1)", repr(context)[:200])
    if code not in VALIDATION_CODES:
        if not isinstance(context, dict | list):
            raise Broken("context is neither object nor list", repr(context)[:200])
        return
    if not isinstance(context, list) or not context:
        raise Broken("validation context is not a non-empty list", repr(context)[:200])
    codes = set()
    for item in context:
        check_entry(item)
        codes.add(item["code"])
    if len(codes) > 1 and code != Code.VALIDATION_ERROR:
        raise Broken("several codes but not 1000", f"{code} for {sorted(codes)}")
    if len(codes) == 1 and code != next(iter(codes)):
        raise Broken("one code but the body carries another", f"{code} for {sorted(codes)}")


def check_entry(item: Any) -> None:
    if not isinstance(item, dict):
        raise Broken("context entry is not an object", repr(item)[:200])
    if list(item)[:len(CONTEXT_KEYS)] != CONTEXT_KEYS:
        raise Broken("context entry keys missing or out of order", repr(list(item)))
    if item["validationType"] not in VALIDATION_TYPES:
        raise Broken("unknown validationType", repr(item["validationType"]))
    field = item["fieldName"]
    if not isinstance(field, list) or not all(isinstance(p, str | int) for p in field):
        raise Broken("fieldName is not a list of keys and indexes", repr(field)[:200])
    if not isinstance(item["errorDescription"], str) or not item["errorDescription"]:
        raise Broken("errorDescription is not a sentence", repr(item["errorDescription"]))
    if item["code"] not in VALIDATION_CODES:
        raise Broken("entry code is not a validation code", repr(item["code"]))
    if item["code"] == Code.WRONG_TYPE and "expectedType" not in item:
        raise Broken("1006 entry without expectedType", repr(item)[:200])
    if item["code"] in (Code.WRONG_COUNT, Code.WRONG_LENGTH) and "limits" not in item:
        raise Broken(f"{item['code']} entry without limits", repr(item)[:200])


def check_error_bytes(raw: bytes, status: int | None = None) -> None:
    if b"Traceback" in raw:
        raise Broken("stack trace in a response body", raw[:200].decode("utf-8", "replace"))
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise Broken("error body is not JSON", f"{exc}: {raw[:120]!r}") from None
    check_body(body, status)


def check_result(result: Result) -> None:
    if result.ok:
        if result.failures:
            raise Broken("ok result with failures", repr(result.failures)[:200])
        return
    assert result.error is not None
    if not result.failures:
        raise Broken("error result without failures", str(result.error))
    try:
        raw = result.error.to_json()
    except Exception as exc:
        raise Broken(f"to_json raised {describe(exc)}") from exc
    check_error_bytes(raw)
    if result.error.http_status != json.loads(raw)["httpStatus"]:
        raise Broken("ApiError.http_status differs from the body")


# --------------------------------------------------------------------------------------------
# Drivers: one concrete input each, raising when a property breaks
# --------------------------------------------------------------------------------------------


def api_call(schema: str, payload: Any) -> None:
    """`validate` on a shipped schema: never an undocumented exception; a well-formed body."""
    with time_limit():
        try:
            result = validator.validate(payload, schema)
        except ValidatorError:
            return
        check_result(result)


def build(document: Any, registered: bool) -> Validator:
    """A validator of a user's schema, registered in a fresh registry of its own or inline:
    the two ways in, each with its own checks."""
    if not registered:
        return Validator(document)
    registry = SchemaRegistry(shipped=False)
    registry.register("fuzz.schema", document)
    return Validator("fuzz.schema", registry=registry)


def user_schema_call(schema: Any, value: Any, registered: bool) -> None:
    """A generated schema: SchemaError when it is registered or compiled, or a well-formed
    result for a payload that holds the value under "v"."""
    document = {"type": "object", "properties": {"v": schema}}
    with time_limit():
        try:
            checker = build(document, registered)
        except SchemaError:
            return
        check_result(checker.validate({"v": value}))


def nonblank_lines(data: bytes) -> int:
    """The JSON Lines reader's count of records: lines with something besides whitespace."""
    return sum(1 for line in data.split(b"\n") if line.rstrip(b"\r").strip())


def batch_call(data: bytes, fmt: str | None, suffix: str) -> None:
    """One file through `validator.batch.run` in this process: only InputError may escape,
    rows read = valid + invalid + unverified, a JSON Lines file loses no row, and each
    rejected row carries a well-formed body."""
    with tempfile.TemporaryDirectory(prefix="fuzz-batch-") as tmp:
        source = Path(tmp, "input" + suffix)
        source.write_bytes(data)
        rejects = Path(tmp, "rejects.jsonl")
        config = RunConfig(inputs=[str(source)], fmt=fmt, jobs=1, valid_path=str(Path(tmp,
                           "valid" + suffix)), rejects_path=str(rejects))
        with time_limit(HANG_SECONDS * 2):
            try:
                summary = batch_run(config)
            except InputError:
                return
        counted = summary.valid + summary.invalid + summary.unverified
        if summary.rows_read != counted:
            raise Broken("rows read differ from valid + invalid + unverified",
                         f"{summary.rows_read} != {counted}")
        if fmt == "jsonl" and not summary.input_errors:
            expected = nonblank_lines(data)
            if summary.rows_read != expected:
                raise Broken("rows lost", f"{expected} records, {summary.rows_read} read",
                             amount=expected - summary.rows_read)
        lines = rejects.read_bytes().splitlines() if rejects.exists() else []
        if len(lines) != summary.invalid:
            raise Broken("rejects file differs from the invalid count",
                         f"{len(lines)} lines, {summary.invalid} invalid")
        for line in lines:
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise Broken("rejects line is not JSON", f"{exc}: {line[:100]!r}") from None
            if not isinstance(row, dict) or not isinstance(row.get("line"), int):
                raise Broken("rejects line without its line number", repr(row)[:200])
            check_body(row.get("error"))


# -- web -------------------------------------------------------------------------------------


class _Faults(logging.Handler):
    """Keeps the last fault the guard logged, so that a code 1 says what was behind it."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.last: BaseException | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[1] is not None:
            self.last = record.exc_info[1]


FAULTS = _Faults()
logging.getLogger("validator.web").addHandler(FAULTS)
logging.getLogger("validator.web").propagate = False


async def _asgi_app(scope: Any, receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": APP_STATUS,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": APP_BODY})


def _wsgi_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    environ["wsgi.input"].read()
    start_response(f"{APP_STATUS} App", [("Content-Type", "application/json")])
    return [APP_BODY]


def guard_options(variant: int) -> GuardOptions:
    """0: the defaults; 1: no auth, a small body limit, shallow nesting and the rate limits
    (so that 1015 and a key's counters are exercised too)."""
    if variant == 0:
        return GuardOptions()
    return GuardOptions(require_auth=False, max_body=512, max_depth=4,
                        rate_limiter=MemoryRateLimiter())


@cache
def asgi_stack(variant: int) -> tuple[AsgiMiddleware, asyncio.AbstractEventLoop]:
    # One loop for every call: a limiter's asyncio primitives stay on the loop they met.
    return AsgiMiddleware(_asgi_app, guard_options(variant)), asyncio.new_event_loop()


@cache
def wsgi_client(variant: int) -> Client:
    return Client(WsgiMiddleware(_wsgi_app, guard_options(variant)))


def _check_response(status: int, content_type: str | None, body: bytes) -> None:
    if status == APP_STATUS:
        if body != APP_BODY:
            raise Broken("the application's answer was altered", repr(body[:100]))
        return
    if status not in STATUSES:
        raise Broken("status is not a catalog status", str(status))
    if content_type != "application/json":
        raise Broken("error without Content-Type: application/json", repr(content_type))
    try:
        check_error_bytes(body, status)
    except Broken as exc:
        if exc.kind == "internal fault (code 1)" and FAULTS.last is not None:
            raise Broken(f"internal fault (code 1) from {describe(FAULTS.last)}") from exc
        raise


def asgi_call(variant: int, method: str, path: str, query: bytes,
              headers: list[tuple[bytes, bytes]], chunks: list[bytes],
              disconnect: bool) -> None:
    """A raw request through the ASGI middleware: headers as bytes, the body in chunks, the
    client optionally gone before the last one. The answer is the app's or an API error."""
    app, loop = asgi_stack(variant)
    incoming: list[dict[str, Any]] = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks or [b""])]
    if disconnect:
        incoming[-1] = {"type": "http.disconnect"}
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> MutableMapping[str, Any]:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": method, "scheme": "http", "path": path,
             "raw_path": path.encode("utf-8", "surrogatepass"), "query_string": query,
             "root_path": "", "headers": headers, "client": ("127.0.0.1", 50000),
             "server": ("testserver", 80)}
    FAULTS.last = None
    with time_limit():
        loop.run_until_complete(app(scope, receive, send))
    if not sent and disconnect:
        return  # nobody is left to answer
    if not sent or sent[0]["type"] != "http.response.start":
        raise Broken("no response started", repr(sent)[:200])
    bodies = sent[1:]
    if not bodies or any(m["type"] != "http.response.body" for m in bodies) \
            or bodies[-1].get("more_body", False):
        raise Broken("response not sent exactly once", repr([m["type"] for m in sent]))
    content_type = dict(sent[0].get("headers", [])).get(b"content-type")
    _check_response(sent[0]["status"], content_type.decode("latin-1") if content_type else None,
                    b"".join(m.get("body", b"") for m in bodies))


def wsgi_call(variant: int, method: str, path: str, query: str,
              headers: list[tuple[str, str]], body: bytes) -> None:
    """The same through the WSGI middleware, driven by werkzeug's test client."""
    FAULTS.last = None
    with time_limit():
        response = wsgi_client(variant).open(path, method=method, query_string=query,
                                             headers=headers, data=body)
    _check_response(response.status_code, response.headers.get("Content-Type"),
                    response.get_data())




def nest(depth: int, kind: str, leaf: Any = None) -> Any:
    """A value `depth` levels deep, built without recursion."""
    value: Any = leaf
    for _ in range(depth):
        value = [value] if kind == "list" else {"a": value}
    return value


def nest_text(depth: int, kind: str) -> str:
    if kind == "list":
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "null" + "}" * depth


def property_names(node: Any, out: set[str]) -> set[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict):
                out.update(value)
            property_names(value, out)
    elif isinstance(node, list):
        for value in node:
            property_names(value, out)
    return out


@cache
def shipped_schemas() -> tuple[str, ...]:
    return tuple(validator.schema_names())


@cache
def route_paths() -> tuple[tuple[str, str], ...]:
    return tuple((route.method, route.pattern) for route in RouteTable.default().routes)


def fill_route(pattern: str, values: list[str]) -> str:
    parts = pattern.split("{")
    out = parts[0]
    for i, part in enumerate(parts[1:]):
        out += (values[i] if i < len(values) else "x") + part.split("}", 1)[1]
    return out


# The headers a WSGI test client passes on as given (it computes Content-Length itself).
WSGI_HEADERS = ("authorization", "content-type", "x-auth-token", "x-forwarded-for")


def split_body(body: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(c, len(body)) for c in cuts})
    chunks, start = [], 0
    for point in points:
        chunks.append(body[start:point])
        start = point
    chunks.append(body[start:])
    return chunks


def asgi_request(parts: Mapping[str, Any]) -> None:
    headers = [(n.encode("latin-1"), v.encode("latin-1", "replace")) for n, v in parts["headers"]]
    asgi_call(parts["variant"], parts["method"], parts["path"], parts["query"], headers,
              split_body(parts["body"], parts["split"]), parts["disconnect"])


def wsgi_request(parts: Mapping[str, Any]) -> None:
    # werkzeug's client refuses line breaks in header values (a server would never pass
    # them on), so they are joined here.
    headers = [(n, "".join(v.encode("latin-1", "replace").decode("latin-1").splitlines()))
               for n, v in parts["headers"] if n in WSGI_HEADERS]
    method = parts["method"].strip().upper() or "GET"
    # A "?" in the path would start a second query: werkzeug's client refuses it (a server
    # splits the request target at the first one).
    path = parts["path"].replace("?", "%3F").encode("utf-8", "surrogatepass").decode("latin-1")
    wsgi_call(parts["variant"], method, path, parts["query"].decode("latin-1"), headers,
              parts["body"])


def warm_up() -> None:
    """Build every validator and middleware once, so that a fuzz run does not time the first
    compilation of a schema as a slow input."""
    for name in shipped_schemas():
        validator.validate({}, name)
    for variant in (0, 1):
        asgi_stack(variant)
        wsgi_client(variant)
    route_paths()
