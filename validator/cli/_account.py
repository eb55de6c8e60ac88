"""`validator account pull`: the account's campaigns, custom fields and tags, fetched from the
API's list endpoints (every page) into one account file for `--account`."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import click
import orjson

from .._account import KEYS, Account, AccountError
from .._catalog import Code
from ._options import EXIT_USAGE

DEFAULT_API_URL = "https://api.getresponse.com/v3"
MAX_PAGES = 10_000
"""A bound on pages per list, so that a server that always says "more" cannot hold a pull."""
ENDPOINTS = {key: "/" + name.removesuffix(".json") for key, name in KEYS.items()}


class PullError(Exception):
    """A pull that cannot go on; the message is the one sentence the command prints."""


def _get(url: str, key: str, timeout: float) -> tuple[Any, dict[str, str]]:
    request = urllib.request.Request(url, headers={
        "X-Auth-Token": f"api-key {key}", "Accept": "application/json",
        "User-Agent": "getresponse-validator"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
            headers = {k.lower(): v for k, v in response.headers.items()}
    except urllib.error.HTTPError as exc:
        raise PullError(_refusal(url, exc)) from exc
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        reason = getattr(exc, "reason", exc)
        raise PullError(f"cannot reach {url}: {reason}") from exc
    try:
        return orjson.loads(body), headers
    except orjson.JSONDecodeError as exc:
        raise PullError(f"GET {url} answered something that is not JSON ({exc})") from exc


def _refusal(url: str, exc: urllib.error.HTTPError) -> str:
    try:
        body = orjson.loads(exc.read())
    except (orjson.JSONDecodeError, OSError):
        body = None
    code = body.get("code") if isinstance(body, dict) else None
    message = body.get("message") if isinstance(body, dict) else None
    context = body.get("context") if isinstance(body, dict) else None
    if exc.code == 401 or code == Code.AUTHENTICATION:
        return (f"the API refused the API key (HTTP {exc.code}, code "
                f"{code or int(Code.AUTHENTICATION)}: "
                f"{message or 'authentication failed'}); check --api-key")
    if exc.code == 429 or code == Code.QUOTA_REACHED:
        wait = context.get("timeToReset") if isinstance(context, dict) else None
        wait = wait or exc.headers.get("X-RateLimit-Reset")
        return (f"the API's rate limit is reached (HTTP {exc.code}, code "
                f"{code or int(Code.QUOTA_REACHED)}); "
                f"try again {'in ' + str(wait) if wait else 'later'}")
    detail = f", code {code}: {message}" if code is not None else ""
    return f"GET {url} answered HTTP {exc.code}{detail}"


def pull_list(base: str, path: str, key: str, per_page: int, timeout: float) -> list[Any]:
    """Every item of one list endpoint, page after page (the `TotalPages` header, or until a
    page comes back short)."""
    items: list[Any] = []
    for page in range(1, MAX_PAGES + 1):
        query = urllib.parse.urlencode({"page": page, "perPage": per_page})
        url = f"{base.rstrip('/')}{path}?{query}"
        data, headers = _get(url, key, timeout)
        if not isinstance(data, list):
            raise PullError(f"GET {url} answered {json.dumps(data)[:60]}, not a list")
        items.extend(data)
        total = headers.get("totalpages")
        if total is not None and total.strip().isdigit():
            if page >= int(total):
                return items
        elif len(data) < per_page:
            return items
        if not data:
            return items
    raise PullError(f"{base}{path} still had more pages after {MAX_PAGES:,}")


def _write(path: str, data: dict[str, Any]) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(prefix=".account-", dir=folder)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(orjson.dumps(data, option=orjson.OPT_INDENT_2))
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


@click.group()
def account() -> None:
    """Account data for --account (campaigns, custom fields, tags)."""


@account.command()
@click.option("--api-url", default=DEFAULT_API_URL, show_default=True,
              help="The API's base URL (the lists are GET <url>/campaigns, /custom-fields, "
                   "/tags).")
@click.option("--api-key", envvar="GETRESPONSE_API_KEY", required=True,
              help="The API key, sent as X-Auth-Token: api-key <key> (or the environment "
                   "variable GETRESPONSE_API_KEY).")
@click.option("--out", "out_path", default="account.json", show_default=True,
              type=click.Path(dir_okay=False), help="The account file to write.")
@click.option("--per-page", type=click.IntRange(1, 1000), default=1000, show_default=True,
              help="Items asked for per page (the API allows up to 1000).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=30.0,
              show_default=True, help="Seconds per request.")
@click.option("--only", "kinds", multiple=True, type=click.Choice(list(KEYS)),
              help="Fetch only these lists (repeatable; default: all three).")
def pull(api_url: str, api_key: str, out_path: str, per_page: int, timeout: float,
         kinds: tuple[str, ...]) -> None:
    """Fetch the account's campaigns, custom fields and tags (every page) into one account
    file. Exit 0 when written; 2 when the API refuses the key (1014), its rate limit is
    reached (429), it cannot be reached, or what it answers is not an account."""
    folder = os.path.dirname(os.path.abspath(out_path))
    if not os.path.isdir(folder):
        raise click.BadParameter(f"folder {folder} does not exist", param_hint="--out")
    lists: dict[str, Any] = {}
    try:
        for key in kinds or KEYS:
            lists[key] = pull_list(api_url, ENDPOINTS[key], api_key, per_page, timeout)
        Account(campaigns=lists.get("campaigns"), custom_fields=lists.get("customFields"),
                tags=lists.get("tags"), source=f"the lists of {api_url}")
        _write(out_path, lists)
    except (PullError, AccountError) as exc:
        click.echo(f"validator: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    except OSError as exc:
        click.echo(f"validator: cannot write {out_path}: {exc.strerror or exc}", err=True)
        sys.exit(EXIT_USAGE)
    counts = ", ".join(f"{len(items):,} {key}" for key, items in lists.items())
    click.echo(f"wrote {out_path}: {counts}", err=True)
