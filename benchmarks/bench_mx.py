"""MX deliverability throughput: MXChecker.check_many against email-validator's per-row check.

Run from the repository root:  python benchmarks/bench_mx.py [--rows N] [--domains N]

The dnslib authoritative server of tests/dns_server.py runs in a separate process on
127.0.0.1 (so that it does not share the interpreter lock with the code being measured),
serving a generated zone in which every benchmark domain has one MX record. The payload is
--rows e-mail addresses spread evenly over --domains distinct domains, shuffled.

1. Local server, the whole payload: one MXChecker.check_many over the rows' domains with a
   cold cache, then again warm; distinct lookups/s, rows/s, the CPU each lookup costs, and the
   questions sent (MXChecker's count and the server's, both exactly one per distinct domain).
   Then the SQLite cache: writing every verdict (in batches) and loading them back.
2. email-validator per row, validate_email(check_deliverability=True) with its
   caching_resolver pointed at the same server, against the engine's path for the same rows
   (email-validator syntax per row, then one check_many), on a subset that keeps the payload's
   rows-per-domain ratio: one question at a time, the full payload would take minutes.
3. The same comparison against a server that answers 20 ms late, as a resolver that is not on
   this machine does: there the concurrency bound, not the CPU, sets the pace. Then a sweep of
   the bound.
4. What the canaries cost (SPEC §6), on the 20 ms server: 2,000 domains that do not exist,
   with one canary (mx.dnstest.example, asked once, at the first denial) and with none; the
   difference is one round of canary questions for the whole call, and the rows above, with
   no denial, ask none.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import dns.resolver  # noqa: E402
import email_validator  # noqa: E402
from dns_server import ZONE_APEX, bench_domain  # noqa: E402

from validator.dns import DNSCache, MXChecker  # noqa: E402


class ServerProcess:
    def __init__(self, latency_ms: float = 0) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "dns_server.py"), str(latency_ms)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().split()
        if not line or line[0] != "PORT":
            raise RuntimeError(f"DNS server did not start: {line}")
        self.port = int(line[1])

    def _ask(self, command: str) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def stats(self) -> dict[str, str]:
        return dict(kv.split("=") for kv in self._ask("STATS").split()[1:])

    def mx_queries(self) -> int:
        return int(self.stats().get("MX", 0))

    def cpu(self) -> float:
        return float(self.stats()["cpu"])

    def reset(self) -> None:
        self._ask("RESET")

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def syntax(addresses: list[str]) -> list[str]:
    """The engine's first step: email-validator's syntax check, which gives ascii_domain."""
    return [
        email_validator.validate_email(a, check_deliverability=False).ascii_domain
        for a in addresses
    ]


def ev_per_row(addresses: list[str], port: int) -> float:
    base = dns.resolver.Resolver(configure=False)
    base.nameservers = ["127.0.0.1"]
    base.port = port
    resolver = email_validator.caching_resolver(timeout=5, dns_resolver=base)
    started = time.perf_counter()
    for address in addresses:
        email_validator.validate_email(address, check_deliverability=True, dns_resolver=resolver)
    return time.perf_counter() - started


def engine_path(addresses: list[str], checker: MXChecker) -> float:
    started = time.perf_counter()
    checker.check_many(syntax(addresses))
    return time.perf_counter() - started


def subset(rows: list[str], domains: list[str], n_domains: int) -> list[str]:
    keep = set(domains[:n_domains])
    return [r for r in rows if r.partition("@")[2] in keep]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--domains", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency-ms", type=float, default=20)
    args = parser.parse_args()

    rng = random.Random(20240601)
    domains = [bench_domain(i) for i in range(1, args.domains + 1)]
    rows = [f"user{i}@{domains[i % args.domains]}" for i in range(args.rows)]
    rng.shuffle(rows)
    per_domain = args.rows / args.domains
    table: list[tuple[str, str, str]] = []
    ok = True

    def checker(port: int, concurrency: int = args.concurrency,
                canaries: tuple[str, ...] = (f"mx.{ZONE_APEX}",)) -> MXChecker:
        return MXChecker(
            nameservers=["127.0.0.1"],
            port=port,
            timeout=5.0,
            concurrency=concurrency,
            cache=DNSCache(),
            canaries=canaries,
        )

    def compare(label: str, port: int, n_domains: int) -> None:
        part = subset(rows, domains, n_domains)
        t_ev = ev_per_row(part, port)
        t_ours = engine_path(part, checker(port))
        table.append(
            (
                f"{label}: email-validator per row",
                f"{len(part) / t_ev:,.0f} rows/s",
                f"{len(part):,} rows over {n_domains:,} domains, {t_ev:.2f} s",
            )
        )
        table.append(
            (
                f"{label}: syntax + check_many",
                f"{len(part) / t_ours:,.0f} rows/s",
                f"same rows, {t_ours:.2f} s: {t_ev / t_ours:.1f}x email-validator's rate",
            )
        )

    # 1. Local server, whole payload.
    server = ServerProcess()
    try:
        # The rows are plain ASCII addresses: their domain is what syntax() would give, and
        # leaving syntax out here keeps these figures the DNS layer's own (syntax is in 2).
        row_domains = [r.partition("@")[2] for r in rows]
        n_distinct = len(set(row_domains))
        cold = checker(server.port)
        server.reset()
        server_cpu, cpu = server.cpu(), time.process_time()
        t_cold = timed(lambda: cold.check_many(row_domains))
        cpu, server_cpu = time.process_time() - cpu, server.cpu() - server_cpu
        ours_mx, server_mx = cold.stats.queries["MX"], server.mx_queries()
        ok = ours_mx == server_mx == cold.stats.total_queries == n_distinct
        table.append(
            (
                "MXChecker cold",
                f"{n_distinct / t_cold:,.0f} lookups/s",
                f"{args.rows / t_cold:,.0f} rows/s, {t_cold:.2f} s",
            )
        )
        table.append(
            (
                "  CPU per lookup",
                f"{cpu / n_distinct * 1e6:,.0f} us client",
                f"{server_cpu / n_distinct * 1e6:,.0f} us server,"
                f" {t_cold / n_distinct * 1e6:,.0f} us wall",
            )
        )
        table.append(
            (
                "  questions sent",
                f"{ours_mx:,} MX",
                f"server saw {server_mx:,}; {n_distinct:,} distinct domains:"
                f" {'exactly one each' if ok else 'MISMATCH'}",
            )
        )
        before = cold.stats.total_queries
        t_warm = timed(lambda: cold.check_many(row_domains))
        if cold.stats.total_queries != before:
            ok = False
        table.append(
            (
                "MXChecker warm",
                f"{n_distinct / t_warm:,.0f} lookups/s",
                f"{args.rows / t_warm:,.0f} rows/s, {t_warm:.3f} s,"
                f" {cold.stats.total_queries - before} questions",
            )
        )

        verdicts = cold.check_many(sorted(set(row_domains)))
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "dns.sqlite"
            persistent = DNSCache(path=path)

            def write() -> None:
                for v in verdicts.values():
                    persistent.put(v, 3600)
                persistent.flush()

            t_write = timed(write)
            persistent.close()
            loaded: list[DNSCache] = []
            t_load = timed(lambda: loaded.append(DNSCache(path=path)))
            if len(loaded[0]) != n_distinct:
                ok = False
            loaded[0].close()
        table.append(
            (
                "SQLite cache write",
                f"{n_distinct / t_write:,.0f} verdicts/s",
                f"{n_distinct:,} verdicts in batches of 512, {t_write:.3f} s",
            )
        )
        table.append(
            (
                "SQLite cache load",
                f"{n_distinct / t_load:,.0f} verdicts/s",
                f"when a DNSCache opens the file, {t_load:.3f} s",
            )
        )

        # 2. Against email-validator, local server.
        compare("local", server.port, max(1, round(10_000 / per_domain)))
    finally:
        server.close()

    # 3. A server 20 ms away.
    far = ServerProcess(args.latency_ms)
    label = f"{args.latency_ms:g} ms"
    try:
        compare(label, far.port, max(1, round(2_000 / per_domain)))
        for conc in (1, 8, 64, 256):
            sweep = domains[: min(args.domains, max(100, 40 * conc), 2_000)]
            t = timed(lambda conc=conc, sweep=sweep: checker(far.port, conc).check_many(sweep))  # type: ignore[misc]
            table.append(
                (
                    f"{label}: concurrency {conc}",
                    f"{len(sweep) / t:,.0f} lookups/s",
                    f"{len(sweep):,} domains, {t:.2f} s",
                )
            )
        # 4. Denials: the canary round they call for.
        missing = [f"nx{i:05d}.{ZONE_APEX}" for i in range(2_000)]
        for canaries in ((f"mx.{ZONE_APEX}",), ()):
            denier = checker(far.port, canaries=canaries)
            t = timed(lambda denier=denier: denier.check_many(missing))  # type: ignore[misc]
            ok = ok and denier.stats.canary_checks == (1 if canaries else 0)
            table.append(
                (
                    f"{label}: denials, {len(canaries)} canary",
                    f"{len(missing) / t:,.0f} lookups/s",
                    f"{len(missing):,} domains, {t:.3f} s, {denier.stats.canary_checks} canary"
                    f" round(s), {denier.stats.total_queries:,} questions",
                )
            )
    finally:
        far.close()

    print(
        f"\nMX benchmark: {args.rows:,} rows over {args.domains:,} domains, concurrency"
        f" {args.concurrency}, dnslib server on 127.0.0.1 (own process)\n"
    )
    w0 = max(len(r[0]) for r in table)
    w1 = max(len(r[1]) for r in table)
    for name, rate, detail in table:
        print(f"{name:<{w0}}  {rate:>{w1}}  {detail}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
