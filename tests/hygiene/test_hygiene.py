"""List-hygiene warnings on values and results: beside the verdict, never in it."""

from __future__ import annotations

import pytest

from validator import validate
from validator.hygiene import (
    Duplicates,
    email_warnings,
    is_disposable,
    provider_normalised,
    typo_suggestion,
    with_warnings,
)


def _kinds(email: str) -> list[str]:
    return [w.kind for w in email_warnings(email)]


@pytest.mark.parametrize(("email", "kinds"), [
    ("anna@mailinator.com", ["disposable"]),
    ("anna@eu.mailinator.com", ["disposable"]),       # a domain under a listed one
    ("info@example.com", ["role"]),
    ("Sales+promo@example.com", ["role"]),
    ("anna@gmial.com", ["typo", "disposable"]),  # squatted typos are often disposable
    ("anna@gmaill.com", ["typo"]),
    ("postmaster@hotmaill.com", ["typo", "role"]),
    ("anna@gmail.com", []),
    ("anna@mail.com", []),                            # a provider itself, one edit from gmail
    ("anna@example.com", []),
    ("anna@me.co", []),                               # short names are left alone
    ("not an address", []),
    ("<anna@icloud.com>", []),                        # a syntax error, not a typo
    ("anna@gmaill..com", []),
    ("anna@müller.de", []),
])
def test_email_warnings(email: str, kinds: list[str]) -> None:
    assert _kinds(email) == kinds


def test_a_typo_comes_with_the_address_it_likely_meant() -> None:
    (warning,) = email_warnings("Anna.Nowak@gmaill.com")
    assert warning.suggestion == "Anna.Nowak@gmail.com"
    assert warning.field_name == ("email",) and warning.value == "Anna.Nowak@gmaill.com"
    assert "gmail.com" in warning.message
    assert typo_suggestion("outlok.com") == "outlook.com"
    assert typo_suggestion("yahooo.com") == "yahoo.com"
    assert typo_suggestion("hotmail.co.uk") is None
    assert typo_suggestion("gmail.com") is None
    assert typo_suggestion("example.com") is None


def test_the_disposable_list_is_the_maintained_package() -> None:
    from disposable_email_domains import blocklist

    assert len(blocklist) > 1000
    sample = sorted(blocklist)[len(blocklist) // 2]
    assert is_disposable(sample) and is_disposable("x." + sample)
    assert not is_disposable("gmail.com")


def test_provider_rules_say_which_mailbox_an_address_reaches() -> None:
    assert provider_normalised("J.Smith+news@GoogleMail.com") == "jsmith@gmail.com"
    assert provider_normalised("j.smith+news@outlook.com") == "j.smith@outlook.com"
    assert provider_normalised("J.Smith+news@example.com") == "j.smith+news@example.com"


def test_duplicates_by_provider_rules_but_not_exact_repeats() -> None:
    seen = Duplicates()
    assert seen.check("jsmith@gmail.com", "line 2", scope="c1") is None
    repeat = seen.check("J.Smith+x@gmail.com", "line 5", scope="c1")
    assert repeat is not None and repeat.kind == "duplicate"
    assert "jsmith@gmail.com (line 2)" in repeat.message
    assert seen.check("jsmith@gmail.com", "line 7", scope="c1") is None  # 1008's job
    assert seen.check("j.smith@gmail.com", "line 8", scope="c2") is None  # another campaign
    assert seen.check("j.smith@example.com", "line 9", scope="c1") is None


def test_warnings_on_a_result_leave_the_verdict_and_body_alone() -> None:
    payload = {"email": "info@gmial.com", "campaign": {"campaignId": "V3J"}}
    plain = validate(payload, "contacts.create")
    assert plain.ok and plain.warnings == ()
    warned = with_warnings(plain, payload)
    assert warned.ok and [w.kind for w in warned.warnings] == ["typo", "disposable", "role"]
    bad = {"email": "info@gmial.com"}
    refused = validate(bad, "contacts.create")
    warned = with_warnings(refused, b'{"email": "info@gmial.com"}')
    assert warned.error is refused.error and warned.failures == refused.failures
    assert [w.kind for w in warned.warnings] == ["typo", "disposable", "role"]
    seen = Duplicates()
    with_warnings(plain, {"email": "ab@gmail.com"}, seen, "row 1")
    again = with_warnings(plain, {"email": "a.b@gmail.com"}, seen, "row 2")
    assert [w.kind for w in again.warnings] == ["duplicate"]
