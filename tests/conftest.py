"""Shared fixtures. DNS: real servers on 127.0.0.1 (see tests/dns_server.py)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# pytest's default import mode puts tests/ on sys.path; importlib mode does not.
if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))

from dns_server import BlackHole, DnsmasqServer, ZoneServer, dnsmasq_binary


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def dnslib_server() -> Iterator[ZoneServer]:
    with ZoneServer() as server:
        yield server


@pytest.fixture(scope="session")
def liar_server() -> Iterator[ZoneServer]:
    """A resolver that answers NXDOMAIN for every name (captive portals, broken resolvers)."""
    with ZoneServer(liar=True) as server:
        yield server


@pytest.fixture(scope="session")
def black_hole() -> Iterator[BlackHole]:
    with BlackHole() as hole:
        yield hole


@pytest.fixture(scope="session")
def dnsmasq_server(dnslib_server: ZoneServer, black_hole: BlackHole) -> Iterator[DnsmasqServer]:
    binary = dnsmasq_binary()
    if binary is None:
        message = (
            "dnsmasq is not installed (Debian package dnsmasq-base): the second DNS server's "
            "cases cannot run"
        )
        if _in_ci():
            pytest.fail(message + "; CI must install it", pytrace=False)
        pytest.skip(message)
    server = DnsmasqServer(
        binary, servfail_upstream=dnslib_server.port, silent_upstream=black_hole.port
    ).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session", params=["dnslib", "dnsmasq"])
def zone_server(request: pytest.FixtureRequest) -> ZoneServer | DnsmasqServer:
    """Each of the two independent servers, serving the same zone."""
    server: ZoneServer | DnsmasqServer = request.getfixturevalue(f"{request.param}_server")
    return server
