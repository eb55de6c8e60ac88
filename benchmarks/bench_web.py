"""Throughput and latency of `validator serve` beside a bare FastAPI endpoint that validates the
same contact with a pydantic model, in the same run, on loopback.

    python benchmarks/bench_web.py            # ~2 min (3 rounds x 4 cases, <= 8 s each)
    python benchmarks/bench_web.py --quick    # ~15 s smoke run
    python benchmarks/bench_web.py --hostile 9   # serve's valid p99 alone, then beside 9
                                                 # 1 MB e-mail bodies in flight (~15 s)

Both servers are uvicorn processes with the same settings (one worker, no access log,
lifespan on); each is pinned to CPU 0 where the OS allows it, and the load generator
(tests/loadgen.py: raw keep-alive HTTP/1.1 sockets, a fixed number of connections) to the
other CPUs, so that client and server do not take turns on one core. Each case gets a warm-up,
then up to --requests requests or --seconds seconds, whichever ends first. Both servers run
for the whole benchmark and the cases alternate between them, in --rounds rounds.

* serve    `validator serve` with its defaults: the header rules (requests carry
           `X-Auth-Token`) and the schema; the answer is 202 with an empty body, or the full
           API error body (every failure, its code, path, value, description, uuid).
* fastapi  `POST /v3/contacts` with a pydantic v2 `NewContact` model (email via
           email-validator, lengths, pattern, IP, nested models); 202 empty, or FastAPI's 422
           `{"detail": [...]}` body.

The goal (issue 5): serve's throughput within 1.5x of the bare endpoint's.
Nothing leaves 127.0.0.1; nothing is written to disk.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

from fastapi import FastAPI, Response
from pydantic import BaseModel, EmailStr, Field, IPvAnyAddress

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from loadgen import Stats, http_request, run_load, run_load_beside  # noqa: E402

VALID = (b'{"name":"John Doe","campaign":{"campaignId":"pV3r"},"email":"john.doe@example.com",'
         b'"dayOfCycle":"10","scoring":25,"ipAddress":"203.0.113.7",'
         b'"tags":[{"tagId":"Xa9k"},{"tagId":"Pq2L"}],'
         b'"customFieldValues":[{"customFieldId":"n8Zt","value":["white"]}]}')
INVALID = (b'{"name":"' + b"x" * 200 + b'","campaign":{"campaignId":""},"email":"john@@example",'
           b'"dayOfCycle":"ten","scoring":"high","ipAddress":"300.1.1.1"}')
HEADERS = {"X-Auth-Token": "api-key benchKey123", "Content-Type": "application/json"}


RESOURCE_ID = Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9]+$")]


# The comparison: what a FastAPI user writes to validate the same body. Module level, because
# FastAPI resolves the endpoint's annotations from the module's globals.
class Campaign(BaseModel):
    campaignId: RESOURCE_ID


class Tag(BaseModel):
    tagId: RESOURCE_ID


class CustomFieldValue(BaseModel):
    customFieldId: RESOURCE_ID
    value: list[str]


class NewContact(BaseModel):
    email: EmailStr
    campaign: Campaign
    name: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    dayOfCycle: Annotated[str, Field(pattern=r"^[0-9]+$")] | None = None
    scoring: float | None = None
    ipAddress: IPvAnyAddress | None = None
    tags: list[Tag] | None = None
    customFieldValues: list[CustomFieldValue] | None = None


def bare_app() -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.post("/v3/contacts", status_code=202)
    async def create(contact: NewContact) -> Response:
        return Response(status_code=202)

    return app


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _pin(pid: int, cpus: set[int]) -> None:
    if hasattr(os, "sched_setaffinity") and cpus:
        with contextlib.suppress(OSError):  # a container may forbid it; then run unpinned
            os.sched_setaffinity(pid, cpus)


def _start(command: list[str], port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            error = process.stderr.read().decode() if process.stderr else ""
            raise SystemExit(f"server failed: {error}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit(f"server on port {port} did not start")


def _measure(port: int, body: bytes, requests: int, seconds: float, connections: int) -> Stats:
    request = http_request("POST", "/v3/contacts", body, HEADERS)
    run_load("127.0.0.1", port, request, total=max(200, requests // 10), concurrency=connections,
             time_limit=1.0)
    return run_load("127.0.0.1", port, request, total=requests, concurrency=connections,
                    time_limit=seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--hostile", type=int, metavar="N",
                        help="only serve: valid traffic alone and beside N heavy bodies")
    parser.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        import uvicorn

        uvicorn.run(bare_app(), host="127.0.0.1", port=args.serve_bare, log_level="warning",
                    access_log=False)
        return
    if args.quick:
        args.requests, args.seconds, args.rounds = 3000, 2.0, 1
    if args.hostile:
        hostile(args.hostile)
        return

    import fastapi
    import pydantic
    import uvicorn

    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    server_cpus, client_cpus = ({cpus[0]}, set(cpus[1:])) if len(cpus) > 1 else (set(), set())
    print(f"Python {platform.python_version()} on {platform.machine()}, {len(cpus) or '?'} CPUs;"
          f" uvicorn {uvicorn.__version__}, fastapi {fastapi.__version__}, "
          f"pydantic {pydantic.__version__}")
    print(f"{args.connections} keep-alive connections, up to {args.requests} requests or "
          f"{args.seconds:g} s per case; server on CPU {sorted(server_cpus) or 'any'}, "
          f"client on CPU {sorted(client_cpus) or 'any'}\n")
    _pin(0, client_cpus)

    servers = {
        "serve": [sys.executable, "-m", "validator", "serve", "--host", "127.0.0.1",
                  "--port"],
        "fastapi+pydantic": [sys.executable, str(Path(__file__).resolve()), "--serve-bare"],
    }
    ports = {name: _free_port() for name in servers}
    processes = []
    runs: dict[tuple[str, str], list[Stats]] = {}
    try:
        for name, command in servers.items():
            process = _start([*command, str(ports[name])], ports[name])
            processes.append(process)
            _pin(process.pid, server_cpus)
        # Rounds alternate the two servers, so a change in the machine's load during the run
        # hits both alike; the round with the median throughput is reported.
        for round_no in range(args.rounds):
            for label, body in (("valid", VALID), ("invalid", INVALID)):
                for name in servers:
                    stats = _measure(ports[name], body, args.requests, args.seconds,
                                     args.connections)
                    runs.setdefault((name, label), []).append(stats)
                    print(stats.line(f"r{round_no + 1} {name:<17} {label} contact"))
    finally:
        for process in processes:
            process.terminate()
            process.wait(10)
    results = {key: sorted(stats, key=lambda s: s.rps)[len(stats) // 2]
               for key, stats in runs.items()}
    print("\nmedian round:")
    for (name, label), stats in results.items():
        print(stats.line(f"{name:<17} {label} contact"))

    print()
    for label in ("valid", "invalid"):
        ours, bare = results[("serve", label)], results[("fastapi+pydantic", label)]
        ratio = bare.rps / ours.rps if ours.rps else float("inf")
        verdict = "PASS" if ratio <= 1.5 else "MISS"
        print(f"{label:<8} serve {ours.rps:8.0f} req/s vs fastapi+pydantic {bare.rps:8.0f} "
              f"req/s: bare/serve = {ratio:.2f}x (goal <= 1.5x) {verdict}")


def hostile(connections: int) -> None:
    """Valid contacts over 4 connections, alone and while `connections` more send a 1 MB
    e-mail each, back to back (the engine takes most of a second to check one)."""
    import orjson

    heavy = orjson.dumps({"email": "a" * 1_000_000 + "@example.com",
                          "campaign": {"campaignId": "pV3r"}})
    port = _free_port()
    process = _start([sys.executable, "-m", "validator", "serve", "--host", "127.0.0.1",
                      "--port", str(port)], port)
    try:
        valid = http_request("POST", "/v3/contacts", VALID, HEADERS)
        run_load("127.0.0.1", port, valid, total=500, concurrency=4, time_limit=1.0)
        alone = run_load("127.0.0.1", port, valid, total=3000, concurrency=4, time_limit=4.0)
        beside, attack = run_load_beside(
            "127.0.0.1", port, valid, http_request("POST", "/v3/contacts", heavy, HEADERS),
            total=3000, concurrency=4, hostile_connections=connections, time_limit=6.0)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
    print(alone.line("serve valid alone"))
    print(beside.line(f"serve valid beside {connections} heavy"))
    print(attack.line("the heavy bodies (1 MB e-mail)"))


if __name__ == "__main__":
    main()
