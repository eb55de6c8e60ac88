"""Deliverability through the public API (SPEC §3: 1002 / 1010), against the real DNS servers
of tests/dns_server.py, over the wire."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dns_server import (
    LOOP_NAME,
    REFUSED_NAME,
    SERVFAIL_NAME,
    SILENT_NAME,
    ZONE_APEX,
    BlackHole,
    ZoneServer,
)

from validator import DNSCache, DNSOptions, MXChecker, Validator, validate

CAMPAIGN = {"campaignId": "V3J"}


def contact(domain: str, local: str = "john") -> dict[str, object]:
    return {"email": f"{local}@{domain}", "campaign": CAMPAIGN}


def checker_for(server: ZoneServer, **options: object) -> MXChecker:
    options.setdefault("canaries", (f"mx.{ZONE_APEX}",))  # the zone's, not gmail.com
    return MXChecker(nameservers=[server.host], port=server.port, cache=DNSCache(),
                     **options)  # type: ignore[arg-type]


@pytest.fixture
def mx_validator(dnslib_server: ZoneServer) -> Validator:
    return Validator("contacts.create", check_mx=True, mx_checker=checker_for(dnslib_server))


def test_mx_is_off_unless_asked(dnslib_server: ZoneServer) -> None:
    before = dnslib_server.queries()
    assert validate(contact(f"nxdomain.{ZONE_APEX}"), "contacts.create").ok
    assert dnslib_server.queries() == before


def test_deliverable_domain_passes(mx_validator: Validator) -> None:
    assert mx_validator.validate(contact(f"mx.{ZONE_APEX}")).ok
    assert mx_validator.validate(contact(f"a-only.{ZONE_APEX}")).ok


@pytest.mark.parametrize(("domain", "reason"), [
    (f"nxdomain.{ZONE_APEX}", "does not exist"),
    (f"null-mx.{ZONE_APEX}", "does not accept email"),
    (f"private-a.{ZONE_APEX}", "does not accept email"),
    (f"txt-only.{ZONE_APEX}", "does not accept email"),
])
def test_undeliverable_domain_is_1002(mx_validator: Validator, domain: str, reason: str) -> None:
    error = mx_validator.validate(contact(domain)).error
    assert (error.code, error.http_status) == (1002, 400)
    (entry,) = error.to_dict()["context"]
    assert entry["fieldName"] == ["email"]
    assert entry["originalValue"] == f"john@{domain}"
    assert reason in entry["errorDescription"]


@pytest.mark.parametrize("domain", [SERVFAIL_NAME, REFUSED_NAME])
def test_failed_lookup_is_1010_not_a_pass(mx_validator: Validator, domain: str) -> None:
    result = mx_validator.validate(contact(domain))
    assert result.error.code == 1010
    assert result.unverified
    assert "could not be checked" in result.error.to_dict()["context"][0]["errorDescription"]


def test_timeout_is_1010_within_the_budget(dnslib_server: ZoneServer) -> None:
    checker = Validator("contacts.create", check_mx=True, nameservers=[dnslib_server.host],
                        dns_port=dnslib_server.port, dns_timeout=0.5)
    start = time.monotonic()
    result = checker.validate(contact(SILENT_NAME))
    assert time.monotonic() - start < 2.0
    assert result.error.code == 1010 and "timed out" in result.failures[0].description


def test_no_nameserver_answering_is_1010(black_hole: BlackHole) -> None:
    # A fresh cache: the shared one may already know this domain from other tests.
    checker = MXChecker(nameservers=["127.0.0.1"], port=black_hole.port, timeout=0.3,
                        cache=DNSCache())
    result = validate(contact(f"mx.{ZONE_APEX}", "nobody"), "contacts.create", check_mx=True,
                      mx_checker=checker)
    assert result.error.code == 1010


def test_bad_syntax_is_not_looked_up(dnslib_server: ZoneServer, mx_validator: Validator) -> None:
    before = dnslib_server.queries()
    error = mx_validator.validate(contact(f"nxdomain.{ZONE_APEX}", "john..doe")).error
    assert error.code == 1003
    assert dnslib_server.queries() == before


def test_deliverability_combines_with_other_failures(mx_validator: Validator) -> None:
    body = {**contact(f"nxdomain.{ZONE_APEX}"), "name": ""}
    error = mx_validator.validate(body).error
    assert error.code == 1000
    assert [(e["fieldName"], e["code"]) for e in error.to_dict()["context"]] == [
        (["email"], 1002), (["name"], 1005)]


def test_a_chunk_looks_each_domain_up_once(dnslib_server: ZoneServer) -> None:
    checker = checker_for(dnslib_server)
    validator = Validator("contacts.create", check_mx=True, mx_checker=checker)
    domains = [f"mx.{ZONE_APEX}", f"nxdomain.{ZONE_APEX}", f"a-only.{ZONE_APEX}"]
    payloads = [contact(domains[i % 3], f"user{i}") for i in range(300)]
    results = validator.validate_many(payloads)
    assert [r.ok for r in results[:3]] == [True, False, True]
    assert sum(not r.ok for r in results) == 100
    # Each domain once, and the canary once for the 100 denials of nxdomain.
    assert checker.stats.queries["MX"] == 3 + 1


def test_async_chunk(dnslib_server: ZoneServer) -> None:
    validator = Validator("contacts.create", check_mx=True, mx_checker=checker_for(dnslib_server))

    async def run() -> list[bool]:
        results = await validator.validate_many_async(
            [contact(f"mx.{ZONE_APEX}"), contact(f"null-mx.{ZONE_APEX}")])
        single = await validator.validate_async(contact(f"nxdomain.{ZONE_APEX}"))
        return [r.ok for r in results] + [single.ok]

    assert asyncio.run(run()) == [True, False, False]


def test_sync_validate_inside_a_running_loop(dnslib_server: ZoneServer) -> None:
    validator = Validator("contacts.create", check_mx=True, mx_checker=checker_for(dnslib_server))

    async def run() -> bool:
        return validator.validate(contact(f"null-mx.{ZONE_APEX}")).ok

    assert asyncio.run(run()) is False


def test_idn_address_is_looked_up_in_ascii(mx_validator: Validator) -> None:
    assert mx_validator.validate(contact(f"bücher.{ZONE_APEX}")).ok


def test_cli_checks_mx_and_keeps_answers_in_a_cache_file(dnslib_server: ZoneServer,
                                                          tmp_path: object) -> None:
    import json
    import subprocess
    import sys
    from pathlib import Path

    folder = Path(str(tmp_path))
    payload = folder / "contact.json"
    payload.write_text(json.dumps(contact(f"null-mx.{ZONE_APEX}")))
    command = [sys.executable, "-m", "validator.cli", "validate", "--schema", "contacts.create",
               "--check-mx", "--dns-server", f"{dnslib_server.host}:{dnslib_server.port}",
               "--dns-cache", str(folder / "dns.sqlite"), str(payload)]
    before = dnslib_server.queries(f"null-mx.{ZONE_APEX}")
    first = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert first.returncode == 1, first.stderr
    assert json.loads(first.stdout)["code"] == 1002
    asked = dnslib_server.queries(f"null-mx.{ZONE_APEX}")
    assert asked > before
    second = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert json.loads(second.stdout)["code"] == 1002
    # The second run answered from the file: not one more question to the server.
    assert dnslib_server.queries(f"null-mx.{ZONE_APEX}") == asked


def test_given_verdicts_are_used_and_a_missing_one_is_not_a_pass(
        dnslib_server: ZoneServer) -> None:
    from validator import DomainVerdict

    checker = checker_for(dnslib_server)
    validator = Validator("contacts.create", check_mx=True, mx_checker=checker)
    known = {f"mx.{ZONE_APEX}": DomainVerdict(f"mx.{ZONE_APEX}", "undeliverable", "no mail")}
    results = validator.validate_many(
        [contact(f"mx.{ZONE_APEX}"), contact(f"a-only.{ZONE_APEX}")], verdicts=known)
    assert [r.error.code for r in results] == [1002, 1010]
    assert "no mail" in results[0].failures[0].description
    assert results[1].unverified
    # The caller's answers stand: nothing was asked.
    assert checker.stats.total_queries == 0


def test_the_quick_test_and_the_engine_ask_dns_the_same(dnslib_server: ZoneServer) -> None:
    """With MX checks a valid-looking contact skips the engine (validator/_quick.py); the
    addresses it asks DNS about, and the answers, are the engine's."""
    quick = Validator("contacts.create", check_mx=True, mx_checker=checker_for(dnslib_server))
    engine = Validator("contacts.create", check_mx=True, mx_checker=checker_for(dnslib_server))
    engine._quick = None
    assert quick._quick is not None
    payloads = [contact(f"mx.{ZONE_APEX}"), contact(f"nxdomain.{ZONE_APEX}"),
                contact(f"null-mx.{ZONE_APEX}"), contact(SERVFAIL_NAME),
                {**contact(f"mx.{ZONE_APEX}"), "name": "  "},
                {"email": "not an address", "campaign": CAMPAIGN}, {"campaign": CAMPAIGN}]
    fast = quick.validate_many(payloads)
    slow = engine.validate_many(payloads)
    assert [r.failures for r in fast] == [r.failures for r in slow]


def _batch_rows(contacts: list[list[str]]) -> list[dict[str, object]]:
    return [{"campaignId": "V3J", "contacts": [{"email": e} for e in emails]}
            for emails in contacts]


def test_validator_and_batch_agree_on_addresses_inside_arrays(
        dnslib_server: ZoneServer, tmp_path: Path) -> None:
    """contacts.create-batch checks `contacts[].email`: the validator (quick test or engine)
    and a batch run read that path through the one MX walker, so they give one verdict."""
    from validator import ValidationOptions
    from validator.batch import BatchOptions, RunConfig, run

    rows = _batch_rows([
        [f"ann@mx.{ZONE_APEX}", f"bob@a-only.{ZONE_APEX}"],     # both deliverable
        [f"cid@mx.{ZONE_APEX}", f"dan@null-mx.{ZONE_APEX}"],    # the second one is not
        [f"eve@mx.{ZONE_APEX}", f"fay@{SERVFAIL_NAME}"],        # the second one is unknown
    ])
    validator = Validator("contacts.create-batch", check_mx=True,
                          mx_checker=checker_for(dnslib_server))
    assert validator._quick is not None
    results = validator.validate_many(rows)
    assert [r.error.code if r.error else None for r in results] == [None, 1002, 1010]
    assert results[1].failures[0].field_name == ("contacts", 1, "email")

    source = tmp_path / "batch.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in rows))
    summary = run(RunConfig(
        inputs=[str(source)], schema_name="contacts.create-batch",
        options=ValidationOptions(check_mx=True, dns=DNSOptions(
            nameservers=(dnslib_server.host,), port=dnslib_server.port)),
        batch=BatchOptions(dedupe=False),
        valid_path=str(tmp_path / "ok.jsonl"), rejects_path=str(tmp_path / "bad.jsonl"),
        unverified_path=str(tmp_path / "unv.jsonl")))
    assert (summary.valid, summary.invalid, summary.unverified) == (1, 1, 1)
    assert summary.dns_domains == 4
    (bad,) = [json.loads(line) for line in (tmp_path / "bad.jsonl").read_text().splitlines()]
    assert bad["line"] == 2 and bad["error"]["code"] == 1002
    assert bad["error"]["context"][0]["fieldName"] == ["contacts", 1, "email"]
    (unverified,) = (tmp_path / "unv.jsonl").read_text().splitlines()
    assert json.loads(unverified)["line"] == 3


# --------------------------------------------------------------------------------------------
# A resolver that lies, and a CNAME loop (SPEC §6): 1010, never 1002
# --------------------------------------------------------------------------------------------

PROVIDERS = ("gmail.com", "outlook.com", "yahoo.com", "hotmail.com", "icloud.com", "aol.com",
             "wp.pl", "onet.pl", "o2.pl", "interia.pl", "gmx.de", "web.de", "proton.me",
             "yandex.ru", "mail.ru", "orange.fr", "free.fr", "libero.it", "seznam.cz",
             "live.com")


def test_a_cname_loop_is_1010(mx_validator: Validator) -> None:
    error = mx_validator.validate(contact(LOOP_NAME)).error
    assert error.code == 1010
    (entry,) = error.to_dict()["context"]
    assert entry["errorDescription"] == (
        f"Deliverability could not be checked: DNS lookup of MX for {LOOP_NAME} failed: its "
        "CNAME chain loops or is longer than 16 names.")


def test_a_liars_denials_are_1010_through_the_api(liar_server: ZoneServer) -> None:
    validator = Validator("contacts.create", check_mx=True, nameservers=[liar_server.host],
                          dns_port=liar_server.port, dns_canaries=[f"mx.{ZONE_APEX}"],
                          dns_cache=None)
    results = validator.validate_many([contact(d, f"u{i}") for i, d in enumerate(PROVIDERS)])
    assert {r.error.code for r in results} == {1010}
    assert all(r.unverified for r in results)
    assert {r.failures[0].description for r in results} == {
        f"Deliverability could not be checked: DNS server 127.0.0.1 port {liar_server.port} "
        f"is treated as down: it says that mx.{ZONE_APEX}, a name that must exist, does not "
        "exist, so its answers that a domain does not exist are not trusted."}


def _provider_rows(path: Path, rows: int) -> None:
    lines = ["email,name,campaign.campaignId"]
    lines += [f"user{i}@{PROVIDERS[i % len(PROVIDERS)]},User {i},V3J" for i in range(rows)]
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("canaries", [["--dns-canary", f"mx.{ZONE_APEX}"], []],
                         ids=["given", "built-in"])
def test_a_batch_run_against_a_liar_is_all_unverified_and_says_so_once(
        liar_server: ZoneServer, tmp_path: Path, canaries: list[str]) -> None:
    source = tmp_path / "providers.csv"
    _provider_rows(source, 400)
    canary = f"mx.{ZONE_APEX}" if canaries else "gmail.com"
    before = liar_server.queries(canary, "MX")
    done = subprocess.run(
        [sys.executable, "-m", "validator", "check", str(source), "--dns-server",
         f"{liar_server.host}:{liar_server.port}", *canaries, "-j", "2", "--chunk-size", "50",
         "--rejects", str(tmp_path / "bad.jsonl"), "--unverified", str(tmp_path / "unv.jsonl"),
         "--report", str(tmp_path / "report.json")],
        capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["rows"] == {"read": 400, "valid": 0, "invalid": 0, "unverified": 400}
    assert (tmp_path / "bad.jsonl").read_text() == ""
    down = (f"DNS server 127.0.0.1 port {liar_server.port} is treated as down: it says that "
            f"{canary}, a name that must exist, does not exist")
    assert list(report["dns"]["unknownReasons"]) == [down + ", so its answers that a domain "
                                                     "does not exist are not trusted."]
    # Said once in the summary, and in each unverified row's description.
    assert done.stderr.count("treated as down") == 1, done.stderr
    assert "unverified 400" in done.stderr
    entries = [json.loads(line) for line in (tmp_path / "unv.jsonl").read_text().splitlines()]
    assert len(entries) == 400
    assert {e["error"]["code"] for e in entries} == {1010}
    assert all(down in e["error"]["context"][0]["errorDescription"] for e in entries)
    # One round of canaries for the whole run (gmail.com is also a row's domain: once more).
    assert liar_server.queries(canary, "MX") - before == 1 + (canary in PROVIDERS)


def test_a_batch_run_told_to_ask_no_canaries_believes_the_liar(
        liar_server: ZoneServer, tmp_path: Path) -> None:
    source = tmp_path / "providers.csv"
    _provider_rows(source, 40)
    done = subprocess.run(
        [sys.executable, "-m", "validator", "check", str(source), "--dns-server",
         f"{liar_server.host}:{liar_server.port}", "--no-dns-canaries", "-j", "1",
         "--report", str(tmp_path / "report.json")],
        capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1, done.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["rows"] == {"read": 40, "valid": 0, "invalid": 40, "unverified": 0}
