"""One typed options object for every entry point, with the README's keywords kept."""

from __future__ import annotations

import dataclasses

import pytest

from validator import (
    DNSOptions,
    ErrorCatalog,
    OptionsError,
    ValidationOptions,
    Validator,
    validate,
)

INVALID = {"email": "john@example.com", "campaign": {"campaignId": "C"}, "name": ""}
MIXED = {"email": "john@example.com", "name": ""}


def test_options_object_and_keywords_give_the_same_answer() -> None:
    by_object = validate(MIXED, "contacts.create", ValidationOptions(always_combine=True))
    by_keyword = validate(MIXED, "contacts.create", always_combine=True)
    assert by_object.error.to_dict() | {"uuid": ""} == by_keyword.error.to_dict() | {"uuid": ""}


def test_keywords_win_over_the_options_object() -> None:
    single = validate(INVALID, "contacts.create", ValidationOptions(always_combine=True),
                      always_combine=False)
    assert single.error.code == 1005


def test_dns_keywords_become_dns_options() -> None:
    options = ValidationOptions.build(check_mx=True, nameservers=["127.0.0.1"], dns_port=5353,
                                      dns_timeout=0.5, dns_budget=1.0)
    assert options.dns == DNSOptions(nameservers=("127.0.0.1",), port=5353, timeout=0.5,
                                     budget=1.0)
    assert Validator("contacts.create", options).options.dns.port == 5353


def test_unknown_keyword_is_a_type_error_naming_it() -> None:
    with pytest.raises(TypeError, match=r"unknown option.*colour"):
        validate(INVALID, "contacts.create", colour="red")  # type: ignore[call-arg]


@pytest.mark.parametrize("keywords", [
    {"dns_timeout": 0}, {"dns_timeout": float("nan")}, {"dns_port": 0}, {"dns_budget": -1},
    {"phone_region": "Poland"}, {"formats": {"sku": "not callable"}},
])
def test_bad_values_raise_options_error(keywords: dict[str, object]) -> None:
    with pytest.raises(OptionsError):
        ValidationOptions.build(**keywords)  # type: ignore[arg-type]


def test_options_are_immutable_and_catalog_is_honoured() -> None:
    options = ValidationOptions(catalog=ErrorCatalog(statuses={1005: 422}))
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.check_mx = True  # type: ignore[misc]
    assert validate(INVALID, "contacts.create", options).error.http_status == 422
    assert validate(INVALID, "contacts.create").error.http_status == 400


def test_validate_takes_plain() -> None:
    assert not validate(INVALID, "contacts.create", plain=True).ok


def test_format_checkers_are_part_of_the_key() -> None:
    # A str payload is JSON text, hence the quotes.
    schema = {"type": "string", "format": "sku"}
    assert validate('"x"', schema, formats={"sku": lambda v: "bad"}).error.code == 1003
    assert validate('"x"', schema, formats={"sku": lambda v: None}).ok
