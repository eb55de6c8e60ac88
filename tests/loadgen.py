"""A small HTTP/1.1 load generator for loopback servers, bounded by a request count and a time
limit. Raw keep-alive sockets instead of an HTTP client library, so that on one machine the
client costs as little as possible and the figures say more about the server than the client.
Used by tests/test_web.py and benchmarks/bench_web.py.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field


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


async def _read_response(reader: asyncio.StreamReader) -> int:
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
                status = await _read_response(reader)
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
