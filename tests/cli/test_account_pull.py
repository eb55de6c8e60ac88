"""`validator account pull` against a local HTTP server (loopback, started here) that answers
with the reference document's examples: list items built from each schema's property
examples, its 1014 and 429 error bodies. Nothing reaches the internet."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from loadgen import free_port

from validator import Account, validate

DOCUMENT = Path(__file__).resolve().parents[3] / "shared" / "reference" / "getresponse" / \
    "getresponse-contacts-skill" / "openapi.json"
KEY = "abcdef12345678"
LIMITED = "ratelimited123"


def _spec() -> dict[str, Any]:
    return json.loads(DOCUMENT.read_text())


def _example(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """An object of the schema's property examples (across `allOf` and `$ref`)."""
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    found: dict[str, Any] = {}
    for part in schema.get("allOf", []):
        found.update(_example(spec, part))
    for name, prop in schema.get("properties", {}).items():
        if "example" in prop:
            found[name] = prop["example"]
        elif prop.get("type") == "array" and "example" in prop.get("items", {}):
            found[name] = [prop["items"]["example"]]
        elif any("$ref" in p for p in prop.get("allOf", [])) and "example" in prop:
            found[name] = prop["example"]
    return found


def _error(spec: dict[str, Any], path: str, status: str) -> dict[str, Any]:
    response = spec["paths"][path]["get"]["responses"][status]
    value: dict[str, Any] = response["content"]["application/json"]["examples"]["example"][
        "value"]
    return value


class _Api:
    """Two pages per list: the example item, then a second one like it; /tags answers
    without the paging headers, so the pull must stop at its short page."""

    def __init__(self) -> None:
        spec = _spec()
        schemas = {"/campaigns": "CampaignListElement", "/custom-fields": "CustomField",
                   "/tags": "Tag"}
        ids = {"/campaigns": "campaignId", "/custom-fields": "customFieldId", "/tags": "tagId"}
        self.items: dict[str, list[dict[str, Any]]] = {}
        for path, name in schemas.items():
            first = _example(spec, {"$ref": f"#/components/schemas/{name}"})
            second = {**first, ids[path]: first[ids[path]] + "2", "name": "second"}
            self.items[path] = [first, second]
        self.denied = _error(spec, "/campaigns", "401")
        self.limited = _error(spec, "/campaigns", "429")
        self.requests: list[tuple[str, str]] = []


@pytest.fixture
def api() -> Iterator[tuple[_Api, str]]:
    state = _Api()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            token = self.headers.get("X-Auth-Token", "")
            state.requests.append((url.path, url.query))
            if token == f"api-key {LIMITED}":
                self._send(429, state.limited, {"X-RateLimit-Reset": "100 seconds"})
                return
            if token != f"api-key {KEY}":
                self._send(401, state.denied)
                return
            query = urllib.parse.parse_qs(url.query)
            page, per_page = int(query["page"][0]), int(query["perPage"][0])
            path = url.path.removeprefix("/v3")
            items = state.items[path]
            chunk = items[(page - 1) * per_page: page * per_page]
            pages = -(-len(items) // per_page)
            headers = {} if path == "/tags" else {
                "TotalPages": str(pages), "CurrentPage": str(page),
                "TotalCount": str(len(items))}
            self._send(200, chunk, headers)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}/v3"
    finally:
        server.shutdown()
        server.server_close()


def pull(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "validator.cli", "account", "pull",
                           *map(str, args)], capture_output=True, text=True, timeout=60,
                          check=False, env={"PATH": "/usr/bin:/bin"})


def test_pull_follows_pages_into_one_account_file(api: tuple[_Api, str],
                                                  tmp_path: Path) -> None:
    state, url = api
    out = tmp_path / "account.json"
    done = pull("--api-url", url, "--api-key", KEY, "--per-page", "1", "--out", out)
    assert done.returncode == 0, done.stderr
    written = json.loads(out.read_text())
    assert written == {"campaigns": state.items["/campaigns"],
                       "customFields": state.items["/custom-fields"],
                       "tags": state.items["/tags"]}
    # Two pages each; /tags, without paging headers, needs a third (empty) page to end.
    assert [p for p, _ in state.requests].count("/v3/campaigns") == 2
    assert [p for p, _ in state.requests].count("/v3/tags") == 3
    account = Account.load(out)
    assert account.campaigns == {"V3J", "V3J2"} and account.tags == {"vBd5", "vBd52"}
    field = account.custom_field_named("office_phone_number")
    assert field is not None and field.type == "phone"
    contact = {"email": "john@example.com", "campaign": {"campaignId": "V3J"},
               "customFieldValues": [{"customFieldId": "pas", "value": ["+48600100200"]}]}
    assert validate(contact, "contacts.create", account=account).ok
    contact["campaign"] = {"campaignId": "nope"}
    assert validate(contact, "contacts.create", account=account).error.code == 1001  # type: ignore[union-attr]


def test_a_refused_key_is_exit_2_with_the_apis_1014(api: tuple[_Api, str],
                                                    tmp_path: Path) -> None:
    _, url = api
    out = tmp_path / "account.json"
    done = pull("--api-url", url, "--api-key", "wrongkey99", "--out", out)
    assert done.returncode == 2 and not out.exists()
    assert "refused the API key (HTTP 401, code 1014" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


def test_a_rate_limit_is_exit_2_saying_when(api: tuple[_Api, str], tmp_path: Path) -> None:
    _, url = api
    done = pull("--api-url", url, "--api-key", LIMITED, "--out", tmp_path / "a.json")
    assert done.returncode == 2
    assert "rate limit is reached (HTTP 429, code 1015); try again in 100 seconds" in \
        done.stderr


def test_a_server_that_is_not_there_is_exit_2(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/v3"
    done = pull("--api-url", url, "--api-key", KEY, "--out", tmp_path / "a.json")
    assert done.returncode == 2 and f"cannot reach {url}/campaigns" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_key_may_come_from_the_environment(api: tuple[_Api, str], tmp_path: Path) -> None:
    _, url = api
    out = tmp_path / "a.json"
    done = subprocess.run([sys.executable, "-m", "validator.cli", "account", "pull",
                           "--api-url", url, "--out", str(out), "--only", "tags"],
                          capture_output=True, text=True, timeout=60, check=False,
                          env={"PATH": "/usr/bin:/bin", "GETRESPONSE_API_KEY": KEY})
    assert done.returncode == 0, done.stderr
    assert set(json.loads(out.read_text())) == {"tags"}
