"""Format rules against the libraries that define them."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from validator.rules._formats import (
    check_date,
    check_date_time,
    check_ip,
    check_ipv4,
    check_ipv6,
    check_phone,
    check_uri,
    check_url,
)

OCTETS = st.one_of(st.integers(0, 300).map(str), st.sampled_from(["00", "01", "010", "", "a",
                                                                   "-1", "1e1", " 1", "٣"]))


@settings(max_examples=2000)
@given(st.lists(OCTETS, min_size=3, max_size=5).map(".".join))
def test_ipv4_fast_check_agrees_with_ipaddress(text: str) -> None:
    try:
        ipaddress.IPv4Address(text)
        expected = True
    except ValueError:
        expected = False
    assert (check_ipv4(text) is None) == expected


@pytest.mark.parametrize(("value", "ok"), [
    ("::1", True), ("2001:db8::8a2e:370:7334", True), ("::ffff:1.2.3.4", True),
    ("fe80::1%eth0", False), ("1::2::3", False), ("12345::", False), ("", False),
])
def test_ipv6(value: str, ok: bool) -> None:
    assert (check_ipv6(value) is None) is ok
    assert (check_ip(value) is None) is ok


@pytest.mark.parametrize(("value", "ok"), [
    ("2020-02-29", True), ("2021-02-29", False), ("2021-04-31", False), ("2021-4-01", False),
    ("2021-01-01T00:00:00Z", False),
])
def test_date(value: str, ok: bool) -> None:
    assert (check_date(value) is None) is ok


@pytest.mark.parametrize(("value", "ok"), [
    ("2017-03-02T07:30:49+0000", True),          # the API's own form
    ("2017-03-02T07:30:49+00:00", True),
    ("2017-03-02t07:30:49.123z", True),
    ("1998-12-31T23:59:60Z", True),              # a leap second
    ("1998-12-31T15:59:60-08:00", True),         # the same second, west of UTC
    ("1998-12-31T22:59:60Z", False),
    ("2017-03-02T24:00:00Z", False),
    ("2017-03-02T07:30:49", False),              # no offset
    ("2017-03-02 07:30:49+00:00", False),
    ("2017-03-02T07:30:49+2400", False),
])
def test_date_time(value: str, ok: bool) -> None:
    assert (check_date_time(value) is None) is ok


@pytest.mark.parametrize(("value", "uri", "url"), [
    ("https://example.com/a?b=c#d", True, True),
    ("http://[2001:db8::7]/c", True, True),
    ("mailto:john@example.com", True, False),
    ("https:///path", True, False),
    ("http://exa mple.com", False, False),
    ("//example.com", False, False),
    ("http://[::ffff:01.2.3.4]", False, False),
])
def test_uri_and_url(value: str, uri: bool, url: bool) -> None:
    assert (check_uri(value) is None) is uri
    assert (check_url(value) is None) is url


def test_phone_messages_say_why() -> None:
    assert check_phone("+48600100200") is None
    assert "E.164" in (check_phone("600100200") or "")
    assert "no such number" in (check_phone("+4860010020") or "")
