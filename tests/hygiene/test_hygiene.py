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


def _every_provider_suggestion(domain: str) -> str | None:
    """``typo_suggestion`` as first written: the distance to every provider."""
    from validator.hygiene._checks import _PROVIDER_SET, PROVIDERS, _distance

    domain = domain.lower().rstrip(".")
    if domain in _PROVIDER_SET or len(domain) < 6:
        return None
    best: tuple[int, str] | None = None
    for provider in PROVIDERS:
        bound = 2 if len(provider) >= 11 else 1 if len(provider) >= 7 else 0
        found = _distance(domain, provider, bound) if bound else 1
        if found <= bound and (best is None or found < best[0]):
            best = (found, provider)
    return best[1] if best is not None else None


def test_typo_suggestions_skip_far_providers_without_missing_one() -> None:
    import random

    from validator.hygiene import PROVIDERS

    rnd = random.Random(11)
    letters = "abcdefghijklmnopqrstuvwxyz.-0123456789"

    def edited(text: str) -> str:
        chars = list(text)
        for _ in range(rnd.randint(0, 3)):
            at = rnd.randrange(len(chars) + 1)
            kind = rnd.randrange(4)
            if kind == 0:
                chars.insert(at, rnd.choice(letters))
            elif kind == 1 and at < len(chars):
                del chars[at]
            elif kind == 2 and at < len(chars):
                chars[at] = rnd.choice(letters)
            elif at + 1 < len(chars):
                chars[at], chars[at + 1] = chars[at + 1], chars[at]
        return "".join(chars)

    domains = [edited(rnd.choice(PROVIDERS)) for _ in range(6000)]
    domains += ["acme2.com", "umbrella84.eu", "wonka3.fr.", "no-such-domain-089143.com"]
    typo_suggestion.cache_clear()
    got = [typo_suggestion(d) for d in domains]
    assert got == [_every_provider_suggestion(d) for d in domains]
    assert sum(g is not None for g in got) > 1500
