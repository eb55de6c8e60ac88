"""A small HTTP/1.1 load generator for loopback servers, bounded by a request count and a time
limit. Raw keep-alive sockets instead of an HTTP client library, so that on one machine the
client costs as little as possible and the figures say more about the server than the client.
Used by tests/web/test_web.py and benchmarks/bench_web.py, with `serve_process`, the one way
the tests start a real `validator serve`.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve_process(*options: str, key_file: Path | None = None) -> Iterator[int]:
    """`validator serve` as a real process on a free loopback port, answering /health when
    this yields its port; stopped on exit. A server that does not come up within 20 s is a
    RuntimeError carrying the end of its stderr."""
    port = free_port()
    command = [sys.executable, "-m", "validator", "serve", "--host", "127.0.0.1",
               "--port", str(port), *options]
    if key_file is not None:
        command += ["--key-file", str(key_file)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as up:
                    if up.status == 200:
                        break
            except (OSError, urllib.error.URLError):
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                if process.poll() is None:
                    process.kill()
                _, err = process.communicate(timeout=5)
                raise RuntimeError(f"validator serve did not start ({command}): "
                                   f"{err.decode(errors='replace')[-2000:]}")
            time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def http_request(method: str, path: str, body: bytes = b"",
                 headers: dict[str, str] | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
    lines.extend(f"{k}: {v}" for k, v in (headers or {}).items())
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


@dataclass
class Stats:
    requests: int = 0
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)

    @property
    def rps(self) -> float:
        return self.requests / self.elapsed if self.elapsed else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]

    def line(self, label: str) -> str:
        return (f"{label:<34} {self.requests:>7} req  {self.rps:>9.0f} req/s  "
                f"p50 {self.percentile(50) * 1000:6.2f} ms  "
                f"p99 {self.percentile(99) * 1000:6.2f} ms  statuses {dict(self.statuses)}")


async def read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    if length:
        await reader.readexactly(length)
    return status


async def load(host: str, port: int, request: bytes, *, total: int, concurrency: int,
               time_limit: float) -> Stats:
    """Send `request` up to `total` times over `concurrency` keep-alive connections, stopping
    early at `time_limit` seconds."""
    stats = Stats()
    issued = 0
    start = time.perf_counter()
    deadline = start + time_limit

    async def worker() -> None:
        nonlocal issued
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while issued < total and time.perf_counter() < deadline:
                issued += 1
                sent = time.perf_counter()
                writer.write(request)
                status = await read_response(reader)
                stats.latencies.append(time.perf_counter() - sent)
                stats.statuses[status] += 1
                stats.requests += 1
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    stats.elapsed = time.perf_counter() - start
    return stats


def run_load(host: str, port: int, request: bytes, *, total: int, concurrency: int = 16,
             time_limit: float = 5.0) -> Stats:
    return asyncio.run(load(host, port, request, total=total, concurrency=concurrency,
                            time_limit=time_limit))


async def load_beside(host: str, port: int, request: bytes, hostile: bytes, *, total: int,
                      concurrency: int, hostile_connections: int, time_limit: float
                      ) -> tuple[Stats, Stats]:
    """`load` of `request`, while `hostile_connections` more connections send `hostile`
    (an expensive request) back to back, so that that many are in flight the whole time.
    The hostile connections start first and stop when the load ends: (load, hostile)."""
    hostile_stats = Stats()
    stop = asyncio.Event()
    started = asyncio.Event()
    sending = 0

    async def attacker() -> None:
        nonlocal sending
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while not stop.is_set():
                sent = time.perf_counter()
                writer.write(hostile)
                await writer.drain()
                sending += 1
                if sending >= hostile_connections:
                    started.set()
                status = await read_response(reader)
                hostile_stats.latencies.append(time.perf_counter() - sent)
                hostile_stats.statuses[status] += 1
                hostile_stats.requests += 1
        finally:
            writer.close()

    tasks = [asyncio.create_task(attacker()) for _ in range(hostile_connections)]
    try:
        await asyncio.wait_for(started.wait(), time_limit)
        # Give the server the time to take the hostile bodies in before the load starts.
        await asyncio.sleep(0.2)
        stats = await load(host, port, request, total=total, concurrency=concurrency,
                           time_limit=time_limit)
    finally:
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    hostile_stats.elapsed = stats.elapsed
    return stats, hostile_stats


def run_load_beside(host: str, port: int, request: bytes, hostile: bytes, *, total: int,
                    concurrency: int = 4, hostile_connections: int = 9,
                    time_limit: float = 5.0) -> tuple[Stats, Stats]:
    return asyncio.run(load_beside(host, port, request, hostile, total=total,
                                   concurrency=concurrency,
                                   hostile_connections=hostile_connections,
                                   time_limit=time_limit))
