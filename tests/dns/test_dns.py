"""The DNS deliverability layer, over the wire against two independent local servers.

Nothing here mocks the resolver: every verdict comes from real UDP/TCP exchanges with the
dnslib server and with dnsmasq on 127.0.0.1 (tests/dns_server.py, fixtures in conftest.py).
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import dns.resolver
import email_validator
import pytest
from dns_server import (
    CASES,
    FAULT_DOMAINS,
    LOOP_NAME,
    REFUSED_NAME,
    SERVFAIL_NAME,
    SILENT_NAME,
    BlackHole,
    Case,
    DnsmasqServer,
    ZoneServer,
    bench_domains,
)
from email_validator import EmailUndeliverableError

from validator import DNSOptions, OptionsError
from validator.dns import DNSCache, DomainVerdict, MXChecker
from validator.dns._cache import default_cache

Server = ZoneServer | DnsmasqServer

MX = "mx.dnstest.example"
NX = "nxdomain.dnstest.example"
TTL0 = "ttl0.dnstest.example"
CASE_TIMEOUT = 0.5
SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def make_checker(server: Server | BlackHole, **kw: Any) -> MXChecker:
    kw.setdefault("cache", DNSCache())
    kw.setdefault("timeout", 1.0)
    # A canary of the zone: the built-in ones (gmail.com ...) are not in it.
    kw.setdefault("canaries", (MX,))
    return MXChecker(nameservers=[server.host], port=server.port, **kw)


def ev_resolver(server: Server | BlackHole, timeout: float) -> dns.resolver.Resolver:
    base = dns.resolver.Resolver(configure=False)
    base.nameservers = [server.host]
    base.port = server.port
    return email_validator.caching_resolver(timeout=timeout, dns_resolver=base)  # type: ignore[arg-type]


def shown(domain: str) -> str:
    return domain.replace("xn--bcher-kva", "bücher").replace("xn--mnchen-3ya", "münchen")


def expected_unknown(case: Case, server: Server) -> str:
    where = f"127.0.0.1 port {server.port}"
    if case.domain == SERVFAIL_NAME:
        return (
            f"DNS lookup of MX for {SERVFAIL_NAME} failed: {where} answered SERVFAIL (asked twice)."
        )
    if case.domain == REFUSED_NAME:
        return f"DNS lookup of MX for {REFUSED_NAME} failed: {where} answered REFUSED."
    if case.domain == LOOP_NAME:
        return (f"DNS lookup of MX for {LOOP_NAME} failed: its CNAME chain loops or is longer "
                "than 16 names.")
    assert case.domain == SILENT_NAME
    return f"DNS lookup of MX for {SILENT_NAME} timed out after {CASE_TIMEOUT} s."


def expected_deliverable_reason(case: Case) -> str:
    name = shown(case.domain)
    if case.fallback:
        return (
            f"The domain name {name} has no MX record; mail goes to its {case.fallback} record"
            " address (RFC 5321 §5.1 fallback)."
        )
    hosts = ", ".join(f"{p} {h}" for p, h in case.mx)
    return f"The domain name {name} accepts email (MX {hosts})."


SERVER_CASES = [pytest.param("dnslib", c, id=f"dnslib-{c.id}") for c in CASES] + [
    pytest.param("dnsmasq", c, id=f"dnsmasq-{c.id}") for c in CASES if c.dnsmasq
]


@pytest.fixture
def server_of(request: pytest.FixtureRequest) -> Any:
    def get(name: str) -> Server:
        server: Server = request.getfixturevalue(f"{name}_server")
        return server

    return get


# --------------------------------------------------------------------------------------------
# Verdicts, and the differential test against email-validator
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("server_name", "case"), SERVER_CASES)
def test_verdict(server_name: str, case: Case, server_of: Any) -> None:
    server = server_of(server_name)
    checker = make_checker(server, timeout=CASE_TIMEOUT)
    started = time.monotonic()
    verdict = checker.check(case.domain)
    elapsed = time.monotonic() - started
    assert verdict.domain == case.domain
    assert verdict.status == case.status, verdict.reason
    if case.status == "deliverable":
        assert verdict.mx == case.mx
        assert verdict.mx_fallback_type == case.fallback
        assert verdict.reason == expected_deliverable_reason(case)
    elif case.status == "undeliverable":
        assert verdict.reason == case.reason
        assert verdict.mx == ()
    else:
        assert verdict.reason == expected_unknown(case, server)
        assert elapsed < CASE_TIMEOUT + 0.4


@pytest.mark.parametrize(("server_name", "case"), SERVER_CASES)
def test_same_decision_as_email_validator(server_name: str, case: Case, server_of: Any) -> None:
    server = server_of(server_name)
    ours = make_checker(server, timeout=CASE_TIMEOUT).check(case.domain)
    try:
        info = email_validator.validate_email(
            f"user@{case.domain}",
            check_deliverability=True,
            dns_resolver=ev_resolver(server, CASE_TIMEOUT),
        )
    except EmailUndeliverableError as e:
        accepted, message, info = False, str(e), None
    else:
        accepted, message = True, None
    if case.domain in FAULT_DOMAINS:
        # email-validator lets an address through when the lookup fails; we say "unknown".
        assert accepted
        assert ours.status == "unknown"
        return
    assert accepted == (ours.status == "deliverable"), (message, ours)
    if accepted:
        assert info is not None
        assert list(ours.mx) == info.mx
        assert ours.mx_fallback_type == info.mx_fallback_type
    else:
        assert ours.reason == message


def test_no_nameserver_reachable(dnslib_server: ZoneServer) -> None:
    # Port 0 cannot be sent to: the kernel refuses the datagram, as with an unreachable network.
    checker = MXChecker(nameservers=["127.0.0.1"], port=0, cache=DNSCache(), timeout=1.0)
    verdict = checker.check(MX)
    assert verdict.status == "unknown"
    assert verdict.reason.startswith(
        f"DNS lookup of MX for {MX} failed: no nameserver reachable (127.0.0.1 port 0: "
    )
    dead = dns.resolver.Resolver(configure=False)
    dead.nameservers = ["127.0.0.1"]
    dead.port = 0
    resolver = email_validator.caching_resolver(timeout=1, dns_resolver=dead)
    # ... where email-validator accepts the address without a check.
    email_validator.validate_email(f"user@{MX}", check_deliverability=True, dns_resolver=resolver)


def test_unencodable_name_gives_email_validators_error_and_is_not_cached(
    dnslib_server: ZoneServer,
) -> None:
    checker = make_checker(dnslib_server)
    verdict = checker.check("a..dnstest.example")
    assert verdict.status == "undeliverable"
    assert verdict.reason.startswith(
        "There was an error while checking if the domain name in the email address is deliverable: "
    )
    assert checker.cache.get("a..dnstest.example") is None
    assert checker.stats.total_queries == 0  # no question could be put for it


def test_empty_domain_is_not_looked_up(dnslib_server: ZoneServer) -> None:
    checker = make_checker(dnslib_server)
    verdict = checker.check(".")
    assert verdict == DomainVerdict(
        "",
        "undeliverable",
        "There was an error while checking if the domain name in the email address is"
        " deliverable: The domain name is empty.",
    )
    assert checker.stats.total_queries == 0


def test_normalisation_and_results_keyed_as_given(dnslib_server: ZoneServer) -> None:
    checker = make_checker(dnslib_server)
    given = ["MX.dnstest.example.", MX, "Mx.DnsTest.Example", "bücher.dnstest.example"]
    result = checker.check_many(given)
    assert list(result) == given
    assert {result[g].domain for g in given[:3]} == {MX}
    assert result["bücher.dnstest.example"].domain == "xn--bcher-kva.dnstest.example"
    assert result["bücher.dnstest.example"].status == "deliverable"
    assert checker.stats.queries["MX"] == 2


def test_tcp_answers(zone_server: Server) -> None:
    query = dns.message.make_query(MX, "MX")
    answer = dns.query.tcp(query, zone_server.host, port=zone_server.port, timeout=2)
    assert len(answer.answer[0]) == 2
    # big-txt only gets its verdict if the resolver retries the truncated UDP answer over TCP.
    udp = dns.query.udp(
        dns.message.make_query("big-txt.dnstest.example", "TXT"),
        zone_server.host,
        port=zone_server.port,
        timeout=2,
    )
    assert udp.flags & dns.flags.TC


# --------------------------------------------------------------------------------------------
# Faults, timeouts, budget
# --------------------------------------------------------------------------------------------


def test_timeout_is_unknown_within_the_deadline(black_hole: BlackHole) -> None:
    checker = make_checker(black_hole, timeout=0.4)
    started = time.monotonic()
    verdict = checker.check(MX)
    elapsed = time.monotonic() - started
    assert verdict == DomainVerdict(
        MX, "unknown", f"DNS lookup of MX for {MX} timed out after 0.4 s."
    )
    assert 0.35 <= elapsed < 0.4 + 0.3
    assert checker.stats.queries["MX"] == 1  # not asked again after the deadline


def test_timeouts_run_concurrently(black_hole: BlackHole) -> None:
    checker = make_checker(black_hole, timeout=0.4, concurrency=64)
    domains = bench_domains(60)
    started = time.monotonic()
    result = checker.check_many(domains)
    elapsed = time.monotonic() - started
    assert {v.status for v in result.values()} == {"unknown"}
    assert elapsed < 1.5


def test_budget_bounds_check_many(black_hole: BlackHole) -> None:
    checker = make_checker(black_hole, timeout=5.0, budget=0.5)
    started = time.monotonic()
    result = checker.check_many([MX, NX, TTL0])
    elapsed = time.monotonic() - started
    assert elapsed < 0.5 + 0.4
    for domain, verdict in result.items():
        assert verdict.status == "unknown"
        assert verdict.reason == (f"DNS check of {domain} not finished within the budget of 0.5 s.")
        assert checker.cache.get(domain) is None  # nothing was learnt: not cached


def test_budget_keeps_what_was_decided(dnslib_server: ZoneServer) -> None:
    checker = make_checker(dnslib_server, timeout=5.0, budget=0.6)
    started = time.monotonic()
    result = checker.check_many([MX, SILENT_NAME, NX])
    assert time.monotonic() - started < 0.6 + 0.4
    assert result[MX].status == "deliverable"
    assert result[NX].status == "undeliverable"
    assert result[SILENT_NAME].status == "unknown"
    assert "budget" in result[SILENT_NAME].reason


def test_servfail_is_asked_twice_refused_once(dnslib_server: ZoneServer) -> None:
    checker = make_checker(dnslib_server)
    sf_before = dnslib_server.queries(SERVFAIL_NAME, "MX")
    rf_before = dnslib_server.queries(REFUSED_NAME, "MX")
    assert checker.check(SERVFAIL_NAME).status == "unknown"
    assert checker.check(REFUSED_NAME).status == "unknown"
    assert dnslib_server.queries(SERVFAIL_NAME, "MX") - sf_before == 2
    assert dnslib_server.queries(REFUSED_NAME, "MX") - rf_before == 1
    assert checker.stats.servfail_retries == 1
    assert checker.stats.queries["MX"] == 3


# --------------------------------------------------------------------------------------------
# Cache
# --------------------------------------------------------------------------------------------


def approx_lifetime(cache: DNSCache, domain: str) -> float:
    expires = cache.expires_at(domain)
    assert expires is not None
    return expires - time.time()


def test_second_check_makes_no_query(zone_server: Server) -> None:
    checker = make_checker(zone_server)
    first = checker.check(MX)
    queries = checker.stats.total_queries
    assert checker.check(MX) is first
    assert checker.check_many([MX, MX.upper()])[MX] is first
    assert checker.stats.total_queries == queries == 1
    assert checker.stats.cache_hits == 2


def test_record_ttl_honoured(zone_server: Server) -> None:
    checker = make_checker(zone_server)
    checker.check(MX)
    assert approx_lifetime(checker.cache, MX) == pytest.approx(3600, abs=5)
    capped = make_checker(zone_server, cache=DNSCache(max_ttl=1000))
    capped.check(MX)
    assert approx_lifetime(capped.cache, MX) == pytest.approx(1000, abs=5)


def test_ttl0_is_clamped_to_the_floor(zone_server: Server) -> None:
    checker = make_checker(zone_server)
    assert checker.check(TTL0).status == "deliverable"
    assert approx_lifetime(checker.cache, TTL0) == pytest.approx(60, abs=2)
    queries = checker.stats.total_queries
    checker.check(TTL0)
    assert checker.stats.total_queries == queries  # TTL 0 did not mean "ask again"


def test_ttl0_mx_is_clamped_to_the_floor(dnslib_server: ZoneServer) -> None:
    checker = make_checker(dnslib_server, cache=DNSCache(min_ttl=90))
    checker.check("ttl0-mx.dnstest.example")
    assert approx_lifetime(checker.cache, "ttl0-mx.dnstest.example") == pytest.approx(90, abs=2)


def test_floored_entry_expires(zone_server: Server) -> None:
    checker = make_checker(zone_server, cache=DNSCache(min_ttl=0.2))
    checker.check(TTL0)
    checker.check(TTL0)
    assert checker.stats.queries["MX"] == 1
    time.sleep(0.3)
    checker.check(TTL0)
    assert checker.stats.queries["MX"] == 2


def test_negative_caching(zone_server: Server) -> None:
    checker = make_checker(zone_server)
    assert checker.check(NX).status == "undeliverable"
    before = checker.stats.total_queries
    assert checker.check(NX).status == "undeliverable"
    assert checker.stats.total_queries == before
    # dnslib's SOA allows 120 s; dnsmasq sends no SOA, so negative_ttl (300 s) applies.
    expected = zone_server.negative_soa_ttl or checker.cache.negative_ttl
    assert approx_lifetime(checker.cache, NX) == pytest.approx(expected, abs=2)
    # NODATA too, and a verdict resting on several answers keeps the shortest lifetime.
    checker.check("txt-only.dnstest.example")
    assert approx_lifetime(checker.cache, "txt-only.dnstest.example") == pytest.approx(
        expected, abs=2
    )
    checker.check("a-only.dnstest.example")
    assert approx_lifetime(checker.cache, "a-only.dnstest.example") == pytest.approx(
        expected, abs=2
    )


def test_negative_ttl_caps_the_soa(dnslib_server: ZoneServer) -> None:
    checker = make_checker(dnslib_server, cache=DNSCache(negative_ttl=100))
    checker.check(NX)
    assert approx_lifetime(checker.cache, NX) == pytest.approx(100, abs=2)


def test_unknown_is_cached_briefly(dnslib_server: ZoneServer) -> None:
    checker = make_checker(dnslib_server, cache=DNSCache(unknown_ttl=7))
    checker.check(REFUSED_NAME)
    assert approx_lifetime(checker.cache, REFUSED_NAME) == pytest.approx(7, abs=1)
    uncached = make_checker(dnslib_server, cache=DNSCache(unknown_ttl=0))
    uncached.check(REFUSED_NAME)
    uncached.check(REFUSED_NAME)
    assert uncached.stats.queries["MX"] == 2


def test_sqlite_persistence(dnslib_server: ZoneServer, tmp_path: Path) -> None:
    path = tmp_path / "dns-cache.sqlite"
    first_cache = DNSCache(path=path)
    first = make_checker(dnslib_server, cache=first_cache)
    verdicts = first.check_many([MX, NX, "xn--bcher-kva.dnstest.example", REFUSED_NAME])
    mx_expiry = first_cache.expires_at(MX)
    first_cache.close()

    second_cache = DNSCache(path=path)
    assert second_cache.get(MX) == verdicts[MX]
    assert second_cache.get(NX) == verdicts[NX]
    assert second_cache.expires_at(MX) == mx_expiry
    assert second_cache.get(REFUSED_NAME) is None  # "unknown" is never persisted
    second = make_checker(dnslib_server, cache=second_cache)
    again = second.check_many([MX, NX, "xn--bcher-kva.dnstest.example"])
    assert second.stats.total_queries == 0
    assert again[MX] == verdicts[MX]
    second_cache.close()


def test_sqlite_writes_are_batched(dnslib_server: ZoneServer, tmp_path: Path) -> None:
    path = tmp_path / "dns-cache.sqlite"
    cache = DNSCache(path=path)

    def rows() -> int:
        with sqlite3.connect(path) as conn:
            (n,) = conn.execute("SELECT count(*) FROM verdicts").fetchone()
        return int(n)

    for domain in bench_domains(10):
        cache.put(DomainVerdict(domain, "deliverable", "x", ((10, "mx"),)), 600)
    assert rows() == 0  # not written one by one
    cache.flush()
    assert rows() == 10
    # The deadline is not the subject here: queued 64 at a time on a busy machine, a lookup
    # can wait over a second, and a timed-out one is "unknown", which is never written.
    checker = make_checker(dnslib_server, cache=cache, timeout=30.0)
    verdicts = checker.check_many(bench_domains(1200))
    assert {v.status for v in verdicts.values()} == {"deliverable"}
    assert rows() == 1200  # check_many flushes at its end
    cache.close()


def test_broken_cache_file_does_not_stop_checks(dnslib_server: ZoneServer, tmp_path: Path) -> None:
    cache = DNSCache(path=tmp_path / "dns-cache.sqlite")
    cache._store.conn.close()  # type: ignore[union-attr]  # the file becomes unusable
    checker = make_checker(dnslib_server, cache=cache)
    with pytest.warns(RuntimeWarning, match="writes stopped"):
        verdict = checker.check(MX)
    assert verdict.status == "deliverable"
    assert checker.check(MX) is verdict  # the in-memory cache goes on
    assert checker.stats.total_queries == 1


def test_sqlite_drops_expired_rows(tmp_path: Path) -> None:
    path = tmp_path / "dns-cache.sqlite"
    with DNSCache(path=path) as cache:
        cache.put(DomainVerdict(MX, "deliverable", "x"), 0.1)
        cache.put(DomainVerdict(NX, "undeliverable", "y"), 600)
    time.sleep(0.2)
    with DNSCache(path=path) as reopened:
        assert reopened.get(MX) is None
        assert reopened.get(NX) == DomainVerdict(NX, "undeliverable", "y")


# --------------------------------------------------------------------------------------------
# Concurrency: one question per distinct domain, in-flight sharing, bounds, event loops
# --------------------------------------------------------------------------------------------


def test_one_query_per_distinct_domain(dnslib_server: ZoneServer) -> None:
    checker = make_checker(dnslib_server)
    domains = bench_domains(40)
    given = [d.upper() if i % 2 else d for i, d in enumerate(domains * 3)]
    before = dnslib_server.queries(qtype="MX")
    result = checker.check_many(given)
    assert all(v.status == "deliverable" for v in result.values())
    assert checker.stats.queries == {"MX": 40}
    assert checker.stats.lookups == 40
    assert dnslib_server.queries(qtype="MX") - before == 40


def test_inflight_dedup_async(zone_server: Server) -> None:
    checker = make_checker(zone_server)

    async def main() -> list[DomainVerdict]:
        return await asyncio.gather(*(checker.check_async(MX) for _ in range(100)))

    verdicts = asyncio.run(main())
    assert {v.status for v in verdicts} == {"deliverable"}
    assert checker.stats.queries["MX"] == 1
    assert checker.stats.inflight_joins + checker.stats.cache_hits == 99
    assert checker.stats.inflight_joins >= 1


def test_inflight_dedup_server_side(dnslib_server: ZoneServer) -> None:
    checker = make_checker(dnslib_server)
    domain = "slow-200-dedup.dnstest.example"

    async def main() -> list[DomainVerdict]:
        return await asyncio.gather(*(checker.check_async(domain) for _ in range(100)))

    verdicts = asyncio.run(main())
    assert {v.status for v in verdicts} == {"deliverable"}
    assert dnslib_server.queries(domain, "MX") == 1
    assert checker.stats.inflight_joins == 99


def test_inflight_dedup_across_threads(dnslib_server: ZoneServer) -> None:
    checker = make_checker(dnslib_server)
    domain = "slow-300-threads.dnstest.example"
    barrier = threading.Barrier(8)
    results: list[DomainVerdict] = []

    def run() -> None:
        barrier.wait()
        results.append(checker.check(domain))

    threads = [threading.Thread(target=run) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(results) == 8
    assert {v.status for v in results} == {"deliverable"}
    assert dnslib_server.queries(domain, "MX") == 1
    assert checker.stats.inflight_joins + checker.stats.cache_hits == 7


def test_cancelled_owner_hands_over(dnslib_server: ZoneServer) -> None:
    checker = make_checker(dnslib_server)
    domain = "slow-300-handover.dnstest.example"

    async def main() -> DomainVerdict:
        owner = asyncio.ensure_future(checker.check_async(domain))
        await asyncio.sleep(0.05)
        waiter = asyncio.ensure_future(checker.check_async(domain))
        await asyncio.sleep(0.05)
        owner.cancel()
        return await waiter

    assert asyncio.run(main()).status == "deliverable"
    assert checker.stats.inflight_joins == 1
    assert checker.stats.queries["MX"] == 2


def test_cancelled_waiter_leaves_the_shared_lookup(dnslib_server: ZoneServer) -> None:
    checker = make_checker(dnslib_server)
    domain = "slow-300-waiter.dnstest.example"

    async def main() -> DomainVerdict:
        owner = asyncio.ensure_future(checker.check_async(domain))
        await asyncio.sleep(0.05)
        waiter = asyncio.ensure_future(checker.check_async(domain))
        await asyncio.sleep(0.05)
        waiter.cancel()
        return await owner

    assert asyncio.run(main()).status == "deliverable"
    assert checker.cache.get(domain) is not None
    assert checker.stats.queries["MX"] == 1


def test_waiter_whose_loop_is_gone(
    dnslib_server: ZoneServer, caplog: pytest.LogCaptureFixture
) -> None:
    checker = make_checker(dnslib_server)
    domain = "slow-400-gone.dnstest.example"
    owner = threading.Thread(target=checker.check, args=(domain,))
    owner.start()
    time.sleep(0.1)

    async def wait_then_give_up() -> None:
        waiter = asyncio.ensure_future(checker.check_async(domain))
        await asyncio.sleep(0.05)
        waiter.cancel()

    asyncio.run(wait_then_give_up())  # this loop is closed before the lookup ends
    owner.join(5)
    assert checker.stats.inflight_joins == 1
    assert checker.cache.get(domain) is not None
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_concurrency_bound(dnslib_server: ZoneServer) -> None:
    checker = make_checker(dnslib_server, concurrency=4)
    domains = [f"slow-150-c{i}.dnstest.example" for i in range(16)]
    dnslib_server.resolver.reset()
    started = time.monotonic()
    result = checker.check_many(domains)
    elapsed = time.monotonic() - started
    assert {v.status for v in result.values()} == {"deliverable"}
    assert dnslib_server.resolver.max_inflight == 4
    assert elapsed >= 16 / 4 * 0.15 - 0.05


def test_check_many_from_inside_a_running_loop(zone_server: Server) -> None:
    checker = make_checker(zone_server)

    async def main() -> dict[str, DomainVerdict]:
        # A sync call from async code: no loop of its own needed, no "loop already running".
        return checker.check_many([MX, NX])

    result = asyncio.run(main())
    assert result[MX].status == "deliverable"
    assert result[NX].status == "undeliverable"


def test_sync_call_does_not_wait_for_a_lookup_of_the_loop_it_blocks(
    dnslib_server: ZoneServer,
) -> None:
    checker = make_checker(dnslib_server)
    domain = "slow-300-blocked.dnstest.example"
    outcome: list[object] = []

    async def main() -> None:
        pending = asyncio.ensure_future(checker.check_async(domain))
        await asyncio.sleep(0.05)  # its lookup is now in flight on this loop
        outcome.append(checker.check(domain))  # blocks this loop: must not join that lookup
        outcome.append(await pending)

    runner = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    runner.start()
    runner.join(10)
    assert not runner.is_alive(), "deadlock"
    assert [getattr(v, "status", v) for v in outcome] == ["deliverable", "deliverable"]


def test_sync_call_leaves_the_threads_event_loop_alone(dnslib_server: ZoneServer) -> None:
    checker = make_checker(dnslib_server)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        assert checker.check(MX).status == "deliverable"
        assert asyncio.get_event_loop_policy().get_event_loop() is loop
    finally:
        asyncio.set_event_loop(None)
        loop.close()


def test_check_many_async(zone_server: Server) -> None:
    checker = make_checker(zone_server)
    result = asyncio.run(checker.check_many_async([MX, NX, MX]))
    assert result[MX].status == "deliverable"
    assert result[NX].status == "undeliverable"
    # One question per distinct domain, and one for the canary that NX's denial called for.
    assert checker.stats.queries["MX"] == 2 + 1
    assert checker.stats.canary_checks == 1


def test_system_configuration_is_read_lazily() -> None:
    checker = MXChecker(cache=DNSCache())
    assert checker.nameservers is None
    assert "system" in repr(checker)


# --------------------------------------------------------------------------------------------
# DNSOptions: every caller's DNS settings, checked once
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ({"timeout": -1.0}, "timeout"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": math.nan}, "timeout"),
        ({"timeout": math.inf}, "timeout"),
        ({"timeout": "2"}, "timeout"),
        ({"budget": 0.0}, "budget"),
        ({"budget": math.nan}, "budget"),
        ({"port": 0}, "port"),
        ({"port": 70000}, "port"),
        ({"port": True}, "port"),
        ({"port": 53.0}, "port"),
        ({"nameservers": ()}, "nameservers"),
        ({"nameservers": ["127.0.0.1", ""]}, "nameservers"),
        ({"nameservers": "127.0.0.1"}, "nameservers"),
    ],
    ids=lambda v: repr(v) if not isinstance(v, str) else v,
)
def test_dns_options_refuse_bad_values_naming_the_option(given: dict[str, Any], named: str) -> None:
    with pytest.raises(OptionsError, match=rf"^{named} must ") as raised:
        DNSOptions(**given)
    assert isinstance(raised.value, ValueError)


def test_dns_options_keep_good_values() -> None:
    options = DNSOptions(nameservers=["127.0.0.1", "::1"], port=5353, timeout=1, budget=0.5)
    assert options.nameservers == ("127.0.0.1", "::1")  # a list becomes a tuple: frozen
    assert (options.port, options.timeout, options.budget) == (5353, 1, 0.5)
    assert DNSOptions().nameservers is None  # the system's resolver


@pytest.mark.parametrize(
    ("server", "host", "port"),
    [
        ("127.0.0.1", "127.0.0.1", 53),
        ("ns.example", "ns.example", 53),
        ("127.0.0.1:5353", "127.0.0.1", 5353),
        ("[::1]:5353", "::1", 5353),
        ("[::1]", "::1", 53),
        ("::1", "::1", 53),
    ],
)
def test_dns_options_from_server(server: str, host: str, port: int) -> None:
    options = DNSOptions.from_server(server, timeout=0.5, budget=3.0, cache_path="c.sqlite")
    assert options == DNSOptions(nameservers=(host,), port=port, timeout=0.5, budget=3.0,
                                 cache_path="c.sqlite")


@pytest.mark.parametrize("server", [None, ""])
def test_dns_options_from_no_server_is_the_systems(server: str | None) -> None:
    assert DNSOptions.from_server(server, timeout=0.5) == DNSOptions(timeout=0.5)


@pytest.mark.parametrize(
    "server",
    ["host:abc", "host:", ":53", "host:0", "host:70000", "host:²", "[::1]5353", "[::1",
     "[::1]:", "[]:53"],
)
def test_dns_options_from_server_refuses(server: str) -> None:
    expected = f"expected HOST or HOST:PORT, got {server!r}"
    with pytest.raises(OptionsError, match=re.escape(expected)):
        DNSOptions.from_server(server)


def test_checker_is_built_from_the_options(tmp_path: Path) -> None:
    options = DNSOptions(nameservers=("127.0.0.1",), port=5353, timeout=0.5, budget=2.0)
    shared = options.checker()
    assert (shared.nameservers, shared.port, shared.timeout, shared.budget) == (
        ("127.0.0.1",), 5353, 0.5, 2.0)
    assert shared.cache is default_cache
    private = options.checker(private_cache=True)
    assert private.cache is not default_cache and len(private.cache) == 0
    path = tmp_path / "dns-cache.sqlite"
    with DNSOptions(cache_path=str(path)).checker().cache as cache:
        assert cache.path == str(path) and path.exists()


def _unwritable_folder(tmp_path: Path, kind: str) -> Path:
    if kind == "missing":
        return tmp_path / "no-such-folder"
    if kind == "a file":
        (tmp_path / "plain-file").write_text("")
        return tmp_path / "plain-file"
    folder = tmp_path / "read-only"
    folder.mkdir(mode=0o500)
    return folder


@pytest.mark.parametrize(
    "kind",
    ["missing", "a file", pytest.param("read-only", marks=pytest.mark.skipif(
        not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes in any folder"))],
)
def test_checker_with_an_unwritable_cache_path(tmp_path: Path, kind: str) -> None:
    path = str(_unwritable_folder(tmp_path, kind) / "dns-cache.sqlite")
    with pytest.raises(OptionsError, match=f"^cannot use {re.escape(path)} as a DNS cache: "):
        DNSOptions(cache_path=path).checker()


@pytest.mark.parametrize(
    ("option", "value", "says"),
    [
        ("--dns-timeout", "0", "--dns-timeout"),
        ("--dns-server", "host:abc", "host:abc"),
        ("--dns-cache", "/no/such/folder/dns-cache.sqlite", "/no/such/folder/dns-cache.sqlite"),
        ("--dns-canary", "", "canaries must be domain names"),
    ],
)
def test_bad_dns_option_on_the_command_line_is_a_usage_error(
    option: str, value: str, says: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "validator", "validate", "--check-mx", option, value,
         "--schema", "contacts.create", str(SAMPLES / "contact.json")],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    # Click's usage lines, then the one sentence that names the bad value.
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and says in errors[0], done.stderr


def test_canaries_and_no_canaries_on_one_command_line_is_a_usage_error() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "validator", "validate", "--check-mx", "--dns-canary", MX,
         "--no-dns-canaries", "--schema", "contacts.create", str(SAMPLES / "contact.json")],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "--dns-canary and --no-dns-canaries exclude each other" in done.stderr
    assert "Traceback" not in done.stderr


# --------------------------------------------------------------------------------------------
# A resolver that lies (SPEC §6): canaries, asked at the first denial
# --------------------------------------------------------------------------------------------

LIAR_DOWN = (
    "DNS server 127.0.0.1 port {port} is treated as down: it says that {canary}, a name that "
    "must exist, {denial}, so its answers that a domain does not exist are not trusted."
)


def test_a_liar_denies_a_canary_and_its_denials_become_unknown(liar_server: ZoneServer) -> None:
    checker = make_checker(liar_server)
    domains = [f"d{i}.example.com" for i in range(50)] + ["gmail.com", "yahoo.com"]
    canary_before = liar_server.queries(MX)
    verdicts = checker.check_many(domains)
    reason = LIAR_DOWN.format(port=liar_server.port, canary=MX, denial="does not exist")
    assert {v.status for v in verdicts.values()} == {"unknown"}
    assert {v.reason for v in verdicts.values()} == {reason}
    assert checker.resolver_down == reason
    # 52 denials at once, from 52 concurrent lookups: one round of canaries.
    assert checker.stats.canary_checks == 1
    assert liar_server.queries(MX) - canary_before == 1
    # Nothing was learnt about those domains: nothing is cached, ...
    assert all(checker.cache.get(d) is None for d in domains)
    # ... and while the verdict holds, later denials do not ask the canaries again.
    assert checker.check("d99.example.com").reason == reason
    assert checker.stats.canary_checks == 1


def test_the_built_in_canaries_catch_a_liar(liar_server: ZoneServer) -> None:
    checker = MXChecker(nameservers=[liar_server.host], port=liar_server.port, cache=DNSCache(),
                        timeout=1.0)
    assert checker.canaries == ("gmail.com", "outlook.com", "yahoo.com")
    before = {c: liar_server.queries(c, "MX") for c in checker.canaries}
    verdict = checker.check("example.org")
    assert verdict.status == "unknown"
    assert verdict.reason == LIAR_DOWN.format(port=liar_server.port, canary="gmail.com",
                                              denial="does not exist")
    assert {c: liar_server.queries(c, "MX") - before[c] for c in checker.canaries} == {
        "gmail.com": 1, "outlook.com": 1, "yahoo.com": 1}


def test_without_canaries_a_liars_denials_stay_out_of_the_shared_cache(
        liar_server: ZoneServer, dnslib_server: ZoneServer) -> None:
    # canaries=() believes its own resolver; a checker of another resolver (or one with
    # canaries) sharing the cache must still ask its own, not take the liar's word.
    shared = DNSCache()
    believer = make_checker(liar_server, canaries=(), cache=shared)
    denied = believer.check(MX)
    assert denied.status == "undeliverable" and "does not exist" in denied.reason
    assert shared.get(MX) is None
    before = dnslib_server.queries(MX)
    honest = make_checker(dnslib_server, cache=shared)
    assert honest.check(MX).status == "deliverable"
    assert dnslib_server.queries(MX) > before  # asked over the wire, not served the denial
    # What the honest resolver said is cached; a denial it vouched for with its canaries too.
    assert shared.get(MX) is not None and shared.get(MX).status == "deliverable"
    vouched = honest.check("nowhere.dnstest.example")
    assert vouched.status == "undeliverable"
    assert shared.get("nowhere.dnstest.example") == vouched
    # The believer asks its resolver again each time rather than trusting a stored denial.
    for _ in range(2):
        asked = liar_server.queries("elsewhere.dnstest.example")
        assert believer.check("elsewhere.dnstest.example").status == "undeliverable"
        assert liar_server.queries("elsewhere.dnstest.example") > asked


def test_without_canaries_a_liar_is_believed(liar_server: ZoneServer) -> None:
    # What happened before SPEC §6's rule, and what canaries=() asks for.
    checker = make_checker(liar_server, canaries=())
    verdict = checker.check("gmail.com")
    assert verdict == DomainVerdict("gmail.com", "undeliverable",
                                    "The domain name gmail.com does not exist.")
    assert checker.stats.canary_checks == 0
    assert checker.resolver_down is None


def test_a_canary_without_mail_or_address_records_is_a_denial(dnslib_server: ZoneServer) -> None:
    # txt-only exists but has no MX, A or AAAA: what a resolver answering empty says of all.
    checker = make_checker(dnslib_server, canaries=(MX, "txt-only.dnstest.example"))
    verdict = checker.check(NX)
    assert verdict.status == "unknown"
    assert verdict.reason == LIAR_DOWN.format(
        port=dnslib_server.port, canary="txt-only.dnstest.example",
        denial="has no MX and no address record")


def test_an_honest_resolver_keeps_its_denials(zone_server: Server) -> None:
    checker = make_checker(zone_server)
    before = checker.stats.total_queries
    verdicts = checker.check_many([NX, "txt-only.dnstest.example", "nope.dnstest.example"])
    assert [v.status for v in verdicts.values()] == ["undeliverable"] * 3
    assert checker.stats.canary_checks == 1
    assert checker.resolver_down is None
    assert checker.cache.get(NX) is not None  # a believed denial is cached as before
    asked = checker.stats.total_queries - before
    checker.check("other.dnstest.example")
    # Within the hold, a later denial costs its own question only: no canary again.
    assert checker.stats.canary_checks == 1
    assert checker.stats.total_queries - before == asked + 1


def test_canaries_are_not_asked_without_a_denial(dnslib_server: ZoneServer) -> None:
    canary = "a-only.dnstest.example"
    checker = make_checker(dnslib_server, canaries=(canary,))
    before = dnslib_server.queries(canary)
    verdicts = checker.check_many([MX, "cname.dnstest.example", "null-mx.dnstest.example",
                                   SERVFAIL_NAME, "private-a.dnstest.example"])
    # Deliverable, a null MX, a failed lookup, private addresses only: none is a denial.
    assert [v.status for v in verdicts.values()] == [
        "deliverable", "deliverable", "undeliverable", "unknown", "undeliverable"]
    assert checker.stats.canary_checks == 0
    assert dnslib_server.queries(canary) == before


def test_canaries_the_resolver_cannot_answer_prove_nothing(dnslib_server: ZoneServer) -> None:
    # The built-in canaries asked of a server authoritative for its zone only: REFUSED.
    checker = make_checker(dnslib_server, canaries=None)
    assert checker.check(NX).status == "undeliverable"
    assert checker.stats.canary_checks == 1
    assert checker.resolver_down is None


def test_the_canaries_are_asked_again_after_the_hold(
        liar_server: ZoneServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from validator.dns import _sanity

    monkeypatch.setattr(_sanity, "SANITY_HOLD", 0.2)
    checker = make_checker(liar_server)
    assert checker.check("one.example.com").status == "unknown"
    assert checker.resolver_down is not None
    time.sleep(0.3)
    assert checker.resolver_down is None  # no longer known: not asked since
    assert checker.check("two.example.com").status == "unknown"
    assert checker.stats.canary_checks == 2


def test_a_liar_asked_from_inside_a_running_loop(liar_server: ZoneServer) -> None:
    # The synchronous call blocks its loop while a worker thread asks; the canaries run on a
    # thread of their own, so neither waits for the other.
    checker = make_checker(liar_server)

    async def both() -> tuple[DomainVerdict, DomainVerdict]:
        pending = asyncio.ensure_future(checker.check_async("a.example.com"))
        await asyncio.sleep(0)
        blocked = checker.check("b.example.com")
        return await pending, blocked

    started = time.monotonic()
    first, second = asyncio.run(asyncio.wait_for(both(), 10))
    assert first.status == second.status == "unknown"
    assert time.monotonic() - started < 5


def test_canaries_in_the_options() -> None:
    assert DNSOptions().canaries is None  # the built-in ones
    options = DNSOptions(canaries=["Mail.Example.COM.", "mail.example.com", "bücher.example"])
    assert options.canaries == ("mail.example.com", "xn--bcher-kva.example")
    assert options.checker(private_cache=True).canaries == options.canaries
    assert DNSOptions(canaries=()).checker(private_cache=True).canaries == ()
    assert DNSOptions().checker(private_cache=True).canaries == (
        "gmail.com", "outlook.com", "yahoo.com")
    assert DNSOptions.from_server("127.0.0.1:5353", canaries=("x.example",)).canaries == (
        "x.example",)
    with pytest.raises(OptionsError, match="not one string"):
        DNSOptions(canaries="gmail.com")  # type: ignore[arg-type]
    with pytest.raises(OptionsError, match="domain names"):
        DNSOptions(canaries=("gmail.com", ""))
    with pytest.raises(OptionsError, match="at most 10 names, got 11"):
        DNSOptions(canaries=tuple(f"c{i}.example" for i in range(11)))
    with pytest.raises(ValueError, match="domain names"):  # the checker checks them alike
        MXChecker(canaries=["."])


def test_dnsmasq_cannot_express_a_cname_loop(tmp_path: Path) -> None:
    """Why the loop case runs on dnslib only: dnsmasq refuses to start with one. Should a
    dnsmasq accept it one day, this fails, and the case can run on both servers."""
    from dns_server import ZONE_APEX, dnsmasq_binary

    binary = dnsmasq_binary()
    if binary is None:
        pytest.skip("dnsmasq is not installed")
    a, b = f"loop-a.{ZONE_APEX}", f"loop-b.{ZONE_APEX}"
    done = subprocess.run(
        [binary, "--port=0", "--no-daemon", "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
         "--pid-file=", f"--local=/{ZONE_APEX}/", f"--cname={a},{b}", f"--cname={b},{a}"],
        capture_output=True, text=True, timeout=10, check=False, stdin=subprocess.DEVNULL)
    assert done.returncode != 0
    assert "CNAME loop" in done.stderr
