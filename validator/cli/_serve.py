"""`validator serve`: the validation service (see `validator.web`) under uvicorn."""

from __future__ import annotations

from dataclasses import replace

import click

from .._options import ValidationOptions
from ._options import (
    account_option,
    always_combine_option,
    dns_from,
    dns_options,
    load_account,
    register_schemas,
    schema_dirs_option,
)

__all__ = ["serve"]


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on.")
@click.option("--key-file", type=click.Path(exists=True, dir_okay=False),
              help="Accept only the API keys / bearer tokens listed in this file, one a line.")
@click.option("--no-auth", is_flag=True,
              help="Do not require X-Auth-Token / Authorization (skips the 1014 rule).")
@click.option("--rate-limit", is_flag=True,
              help="Apply the API's rate limits (80/s, 30,000/10 min, 10 at once) per key "
                   "with --key-file, else per client address.")
@click.option("--redis-url", metavar="URL",
              help="Share rate-limit counters through Redis (implies --rate-limit).")
@click.option("--max-body", type=click.IntRange(0), default=1 << 20, show_default=True,
              help="Largest request body in bytes.")
@click.option("--max-depth", type=click.IntRange(1), default=32, show_default=True,
              help="Deepest nesting of objects and arrays in a body (and of brackets in a "
                   "query parameter's name).")
@click.option("--header-timeout", type=click.FloatRange(0, min_open=True), default=10.0,
              show_default=True, metavar="SECONDS",
              help="Close a connection whose request line and headers take longer.")
@click.option("--body-timeout", type=click.FloatRange(0, min_open=True), default=30.0,
              show_default=True, metavar="SECONDS",
              help="Answer 1000 and close when a request body takes longer to arrive.")
@click.option("--max-queued", type=click.IntRange(1), default=64, show_default=True,
              help="Bodies over 2 KiB waiting to be checked at once; one more is answered 1019 "
                   "(503).")
@always_combine_option
@dns_options(check_mx_default=False, budget=3.0)
@schema_dirs_option
@click.option("--log-level", default="warning", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]))
@click.option("--access-log", is_flag=True, help="Log every request (slower).")
@account_option
def serve(host: str, port: int, key_file: str | None, no_auth: bool, rate_limit: bool,
          redis_url: str | None, max_body: int, max_depth: int, header_timeout: float,
          body_timeout: float, max_queued: int, always_combine: bool,
          check_mx: bool, dns_server: str | None, dns_timeout: float, dns_budget: float,
          dns_cache: str | None, dns_canaries: tuple[str, ...], no_dns_canaries: bool,
          schema_dirs: tuple[str, ...], log_level: str, access_log: bool,
          account_path: str | None, phone_region: str | None) -> None:
    """Serve the API's routes and POST /validate/{schema} over HTTP: an empty 200/202 for a
    valid request, the API's error body otherwise. GET /openapi.json describes it."""
    from ..web import create_app, run_server

    register_schemas(schema_dirs)
    validation = ValidationOptions(always_combine=always_combine,
                                   account=load_account(account_path),
                                   phone_region=phone_region)
    if check_mx:
        # The DNS options are read only when MX checks use them, so an unused --dns-server
        # never keeps the server from starting.
        validation = replace(validation, check_mx=True, dns=dns_from(
            dns_server, dns_timeout, budget=dns_budget, cache=dns_cache, canaries=dns_canaries,
            no_canaries=no_dns_canaries))
    app = create_app(key_file=key_file, require_auth=not no_auth,
                     rate_limit=rate_limit, redis_url=redis_url, max_body=max_body,
                     max_depth=max_depth, body_timeout=body_timeout, max_queued=max_queued,
                     validation=validation)
    click.echo(f"validator: serving on http://{host}:{port} (OpenAPI at /openapi.json)",
               err=True)
    run_server(app, host=host, port=port, header_timeout=header_timeout,
               body_timeout=body_timeout, log_level=log_level, access_log=access_log)

