"""Differential tests: the fast e-mail check must agree with email-validator on every input.

The fast path may only ever say "valid", so the property that matters is that whenever it
accepts, email-validator accepts too, and that rejections carry email-validator's exact message.
The strategies aim at the places where the two could plausibly part ways: length limits, label
shapes, the TLD rule, special-use names, IDNA and case mapping, and characters just outside the
ASCII subset the fast path understands.
"""

from __future__ import annotations

from typing import TypeVar

import email_validator
import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from validator.rules import _email
from validator.rules._email import email_ascii_domain, email_syntax_error


def reference(address: str) -> tuple[str | None, str | None]:
    """(error message, ascii_domain) as email-validator reports them with its defaults."""
    try:
        result = validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:
        return str(exc), None
    return None, result.ascii_domain


def assert_agrees(address: str) -> None:
    error, ascii_domain = reference(address)
    if len(address) > MAX_LENGTH:
        # Refused before the library, with its sentence for the address as written: the same
        # verdict always, the same words where that check is the one the library reports.
        ours = email_syntax_error(address)
        assert error is not None and ours is not None, address
        assert ours.startswith("The email address is too long ("), ours
        if error.startswith("The email address is too long ("):
            assert ours == error, address
        with pytest.raises(ValueError):
            email_ascii_domain(address)
        return
    assert email_syntax_error(address) == error, address
    if error is None:
        assert email_ascii_domain(address) == ascii_domain, address
    else:
        with pytest.raises(ValueError):
            email_ascii_domain(address)


MAX_LENGTH = 254


# --- strategies -------------------------------------------------------------------------------

T = TypeVar("T")

ATEXT_SPECIALS = "!#$%&'*+-/=?^_`{|}~"
# Characters just outside the fast path's grammar: separators, quoting, whitespace and controls,
# Unicode that NFC/UTS-46 rewrites (İ lowercases to two code points; fullwidth and ideographic
# look-alikes of @, . and A), combining marks, bidi letters, emoji and zero-width characters.
EDGE = ' "\\<>[]()@,;:\t\n\r\x00\x7féößİǅдא\u0628中😀\u0301\u200b\u00ad\uff20\u3002\uff0e\uff21'
LOCAL_ALPHABET = "abzAZ09." + ATEXT_SPECIALS
LDH = "abcnxzABNXZ019-"

SPECIAL_USE = ["arpa", "invalid", "local", "localhost", "onion", "test"]


@st.composite
def mostly(draw: st.DrawFn, clean: st.SearchStrategy[T], dirty: st.SearchStrategy[T]) -> T:
    """Four draws in five from `clean`, so that accepted addresses are common, not rare."""
    # Hypothesis favours (and shrinks towards) 0, so 0 must mean the clean choice.
    return draw(dirty) if draw(st.integers(0, 4)) == 4 else draw(clean)


clean_atoms = st.text(alphabet="abcXY09" + ATEXT_SPECIALS, min_size=1, max_size=8)
dirty_atoms = st.one_of(
    st.text(alphabet=LOCAL_ALPHABET, min_size=0, max_size=6),
    st.text(alphabet=LOCAL_ALPHABET + EDGE, min_size=0, max_size=4),
    st.sampled_from(["john", "doe", "news", "Info", "postmaster", '"quoted"', "a b", "usér"]),
)
local_parts = st.one_of(
    st.lists(mostly(clean_atoms, dirty_atoms), min_size=1, max_size=4).map(".".join),
    st.integers(60, 70).map(lambda n: "a" * n),
)


def ldh_label(text: str) -> str:
    """Turn any non-empty string over LDH into a label that starts and ends alphanumeric."""
    if text[0] == "-":
        text = "a" + text[1:]
    if text[-1] == "-":
        text = text[:-1] + "z"
    return text


# Built with map() rather than from_regex(), which is several times slower to generate.
clean_labels = st.one_of(
    st.text(alphabet=LDH, min_size=1, max_size=10).map(ldh_label),
    # Straddles the 63-character label limit.
    st.tuples(st.integers(60, 65), st.text(alphabet=LDH, max_size=5)).map(
        lambda t: ldh_label((t[1] + "b" * t[0])[: t[0]])
    ),
    st.sampled_from(["example", "example-mail", "mail", "co", "a-b", "axn--b", "LOCALHOST"]),
)
dirty_labels = st.one_of(
    st.text(alphabet=LDH, min_size=0, max_size=6),
    # R-LDH labels: "--" in positions 3-4, with or without the "xn" Punycode prefix.
    st.text(alphabet=LDH, min_size=0, max_size=3).map(lambda s: s[:2].ljust(2, "a") + "--" + s),
    st.sampled_from(
        ["xn--p1ai", "XN--P1AI", "xn--abc", "xn--", "a--b", "12--x", "-a", "a-", "", "bücher", "рф"]
    ),
    st.text(alphabet=LDH + EDGE, min_size=1, max_size=4),
)
labels = mostly(clean_labels, dirty_labels)

tlds = st.one_of(
    # The library only asks that the domain end in a letter, so "123a" and "9-c" are TLDs.
    st.tuples(st.text(alphabet=LDH, max_size=6), st.sampled_from("aqZ")).map(
        lambda t: t[0].lstrip("-") + t[1]
    ),
    st.sampled_from(["com", "COM", "Uk", "c", "x1", "123", "1a", "a1", "c-m", "9-c", "example"]),
    st.sampled_from(SPECIAL_USE).flatmap(lambda s: st.sampled_from([s, s.upper(), s.title()])),
    st.sampled_from(["co--m", "xn--p1ai", "рф", "cöm", "", "com.", "com-"]),
)
domains = st.builds(
    lambda head, tld: ".".join([*head, tld]),
    # Dotless domains are rejected by one simple rule; keep them the exception.
    mostly(st.lists(labels, min_size=1, max_size=4), st.just([])),
    mostly(tlds, dirty_labels),
)


@st.composite
def structured(draw: st.DrawFn) -> str:
    address = draw(local_parts) + "@" + draw(domains)
    # 0-6 (the values Hypothesis favours) leave the address alone.
    mutation = draw(st.integers(0, 9))
    if mutation == 7:
        index = draw(st.integers(0, len(address)))
        address = address[:index] + draw(st.sampled_from(EDGE + "@.-")) + address[index:]
    elif mutation == 8:
        address = draw(st.sampled_from([" ", "<", '"', "@", "."])) + address
    elif mutation == 9:
        address += draw(st.sampled_from([" ", ">", ".", "-", "\n", "@x.com"]))
    return address


@st.composite
def near_length_limits(draw: st.DrawFn) -> str:
    """Addresses whose total length (254), domain length (253) or a label (63) sits at a limit."""
    total = draw(st.sampled_from([*range(250, 259), *range(318, 323)]))
    tld = draw(st.sampled_from(["com", "co.uk", "Uk", "TEST", "a1", "xn--p1ai", "рф", "ab--c"]))
    domain_length = draw(st.one_of(st.integers(len(tld) + 2, 20), st.integers(248, 256)))
    label_length = draw(st.sampled_from([61, 62, 63, 64]))
    filler = draw(st.sampled_from(["a", "Z", "9", "b-c"]))
    head: list[str] = []
    remaining = domain_length - len(tld)
    while remaining > 1:
        size = min(label_length, remaining - 1)
        label = (filler * size)[:size]
        head.append(label if label[-1] != "-" else label[:-1] + "x")
        remaining -= size + 1
    domain = ".".join([*head, tld])
    local = draw(st.sampled_from(["x", "a.b", "Z_9"]))
    local = (local * total)[: max(1, total - len(domain) - 1)].strip(".") or "x"
    return local + "@" + domain


raw_text = st.text(alphabet=LOCAL_ALPHABET + LDH + EDGE, max_size=40)


# --- properties -------------------------------------------------------------------------------

DIFFERENTIAL = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@settings(DIFFERENTIAL, max_examples=3000)
@given(structured())
@example("john.doe+news@example-mail.co.uk")
def test_agrees_with_email_validator_structured(address: str) -> None:
    assert_agrees(address)


@settings(DIFFERENTIAL, max_examples=600)
@given(near_length_limits())
def test_agrees_with_email_validator_near_length_limits(address: str) -> None:
    assert_agrees(address)


@settings(DIFFERENTIAL, max_examples=1000)
@given(st.one_of(raw_text, st.text(max_size=30)))
def test_agrees_with_email_validator_on_arbitrary_text(address: str) -> None:
    assert_agrees(address)


# --- explicit cases ---------------------------------------------------------------------------

VALID = [
    "john.doe+news@example-mail.co.uk",
    "a@b.c",
    "a@x.123a",
    "a@x.9-c",
    "a@b.c-m",
    "a@EXAMPLE.COM",
    "Info@Example.com",
    "user@localhost.com",
    "user@test.example",
    "user@b.example",
    "user@axn--b.com",
    "user@a--b.com",
    "user@b.xn--p1ai",
    "user@bücher.de",
    "usér@example.com",
    "!#$%&'*+-/=?^_`{|}~@example.com",
    "a" * 64 + "@example.com",
    "a" * 65 + "@example.com",
    "a" * 242 + "@example.com",
    "x@" + "a" * 63 + ".com",
    "x@" + ".".join(["a" * 63] * 3) + "." + "a" * 60,
]

INVALID = [
    "",
    "plainaddress",
    "@example.com",
    "a@",
    " a@b.com",
    "a@b.com ",
    "a@b.com\n",
    "a..b@c.com",
    ".a@b.com",
    "a.@b.com",
    "a@b..com",
    "a@.b.com",
    "a@b.com.",
    "a@-b.com",
    "a@b-.com",
    "a@b.-cm",
    "a@x.a1",
    "a@x.123",
    "a@1.2.3.4",
    "a@localhost",
    "a@example",
    "a@b.test",
    "a@b.TEST",
    "a@b.localhost",
    "a@b.invalid",
    "a@b.local",
    "a@b.onion",
    "a@b.arpa",
    "a@ab--c.com",
    "a@12--x.com",
    "a@xn--abc.com",
    "a@@b.com",
    "a@b@c.com",
    '"a"@b.com',
    '"a b"@example.com',
    "a@[1.2.3.4]",
    "Name <a@b.com>",
    "a\uff20b.com",
    "a" * 243 + "@example.com",
    "x@" + "a" * 64 + ".com",
    "x@" + ".".join(["a" * 63] * 3) + "." + "a" * 61,
    "x@" + ".".join(["a" * 63] * 3) + "." + "a" * 62,
    "a@b.c\u00f6m\u0301\u200b",
]


@pytest.mark.parametrize("address", VALID)
def test_valid_examples(address: str) -> None:
    assert email_syntax_error(address) is None
    assert_agrees(address)


@pytest.mark.parametrize("address", INVALID)
def test_invalid_examples(address: str) -> None:
    assert email_syntax_error(address) is not None
    assert_agrees(address)


@pytest.mark.parametrize(
    "address",
    [
        "john.doe+news@example-mail.co.uk",
        "Info@Example.COM",
        "a" * 200 + "@example.com",
        "x@sub.domain.example.org",
    ],
)
def test_common_addresses_take_the_fast_path(address: str) -> None:
    assert _email._fast_domain(address) is not None


@pytest.mark.parametrize(
    "address",
    ["user@b.xn--p1ai", "user@bücher.de", "usér@example.com", "user@xn--abc.com", "a@a--b.com"],
)
def test_unicode_punycode_and_double_hyphens_take_the_slow_path(address: str) -> None:
    assert _email._fast_domain(address) is None


def test_ascii_domain_is_lowercase_idna() -> None:
    assert email_ascii_domain("A@Example-Mail.CO.UK") == "example-mail.co.uk"
    assert email_ascii_domain("a@Bücher.de") == "xn--bcher-kva.de"


def test_ascii_domain_of_invalid_address_raises() -> None:
    with pytest.raises(ValueError, match="special-use"):
        email_ascii_domain("a@b.test")


def test_pinned_options_are_the_library_defaults() -> None:
    # If a new email-validator changes a default, the fast path's rules must be revisited.
    assert _email._OPTIONS == {
        "allow_smtputf8": email_validator.ALLOW_SMTPUTF8,
        "allow_empty_local": email_validator.ALLOW_EMPTY_LOCAL,
        "allow_quoted_local": email_validator.ALLOW_QUOTED_LOCAL,
        "allow_domain_literal": email_validator.ALLOW_DOMAIN_LITERAL,
        "allow_display_name": email_validator.ALLOW_DISPLAY_NAME,
        "strict": email_validator.STRICT,
        "test_environment": email_validator.TEST_ENVIRONMENT,
        "globally_deliverable": email_validator.GLOBALLY_DELIVERABLE,
        "check_deliverability": False,
    }


def test_strategies_cover_every_special_use_name() -> None:
    assert sorted(email_validator.SPECIAL_USE_DOMAIN_NAMES) == SPECIAL_USE


def test_module_defaults_changed_elsewhere_do_not_leak_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(email_validator, "TEST_ENVIRONMENT", True)
    _email._slow_cached.cache_clear()
    try:
        assert email_syntax_error("a@b.test") is not None
    finally:
        _email._slow_cached.cache_clear()


@pytest.mark.parametrize("address", [
    "a" * 250 + "@b.co",  # 255: one too many
    "a" * 300 + "@example.com",
    "\u00e9" * 300 + "@example.com",  # two bytes a character
    "\u4e2d" * 100 + "a" * 100 + "@example.com",  # three
    "\U0001f600" * 10 + "a" * 250 + "@example.com",  # four
    "a" * 1_000 + "@example.com",
], ids=["255", "ascii", "latin", "cjk", "emoji", "1000"])
def test_an_overlong_address_gets_the_librarys_own_sentence(address: str) -> None:
    error, _ = reference(address)
    assert error is not None and error.startswith("The email address is too long (")
    assert email_syntax_error(address) == error


def test_an_address_of_254_characters_still_goes_to_the_library() -> None:
    address = "a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 57 + ".com"
    assert len(address) == MAX_LENGTH
    assert reference(address)[0] is None and email_syntax_error(address) is None
    assert email_syntax_error(address + "m") == reference(address + "m")[0] is not None


def test_a_megabyte_address_is_refused_without_the_library(monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    # email-validator reads it character by character: 0.66-2 s (issue 14).
    def library(*args: object, **kwargs: object) -> None:
        raise AssertionError("email-validator was called")

    monkeypatch.setattr(_email, "validate_email", library)
    address = "a" * 1_000_000 + "@example.com"
    assert email_syntax_error(address) == \
        "The email address is too long (999758 characters too many)."
    with pytest.raises(ValueError, match="too long"):
        email_ascii_domain(address)


def test_a_refusal_remembered_for_the_next_call_is_never_a_pass() -> None:
    """The last refused address is remembered by identity; the empty string (one interned
    object) and a valid address asked right after a refusal get their own verdicts."""
    from validator.rules._email import email_syntax_error

    for _ in range(2):
        assert email_syntax_error("") is not None
    assert email_syntax_error("john..doe@example.com") is not None
    assert email_syntax_error("john.doe@example.com") is None
    assert email_syntax_error("") is not None
