"""SPEC §1 (the catalog) and §2 (the body's exact shape)."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from validator import ErrorCatalog, validate

SPEC = Path(__file__).resolve().parents[2] / "shared" / "SPEC.md"
ERRORS = SPEC.parent / "reference" / "errors.md"

PUBLISHED = {
    1: (500, "Internal error"),
    1000: (400, "General error of validation process"),
    1001: (400, "Resource that is related to given resource cannot be found"),
    1002: (400, "Resource state forbids that kind of action"),
    1003: (400, "Parameter has wrong format"),
    1004: (400, "Wrong number of values for multivalues parameter (hash, table)"),
    1005: (400, "Parameter has empty value"),
    1006: (400, "Parameter has wrong type"),
    1007: (400, "Parameter value has incorrect length"),
    1008: (409, "There is another resource with the same value of unique property"),
    1009: (400, "Resource you tried to manipulate is used somewhere and this manipulation is "
                "forbidden"),
    1010: (400, "Error in external resources"),
    1011: (400, 'Message is already in "sending" mode, you cannot change its properties'),
    1012: (400, "Error during parsing message content"),
    1013: (404, "Resource with given ID cannot be found"),
    1014: (403, "Problem during authentication process"),
    1015: (429, "Too many request to API, quota reached"),
    1016: (403, "Too many request to API or suspected behaviour, API was temporarily blocked, "
                "please wait"),
    1017: (403, "Suspected behaviour, API was permanently blocked, please contact with our "
                "support"),
    1018: (403, "Your IP was blocked"),
    1019: (503, "Service unavailable"),
    1021: (400, "There is something wrong with your request headers"),
    1023: (403, "Access forbidden"),
    1024: (404, "Domain not found"),
    1027: (400, "Failed to add contacts. Limit reached. Log in to GetResponse to check your "
                "account status"),
    1028: (400, "Resource is restricted and cannot be modified or deleted"),
    1029: (400, "Resource property is restricted and cannot be used"),
}


def test_catalog_holds_every_published_code_with_its_status_and_title() -> None:
    catalog = ErrorCatalog()
    assert {c: (e.http_status, e.title) for c, e in catalog.items()} == PUBLISHED
    assert all(e.description for e in catalog.values())


@pytest.mark.skipif(not ERRORS.exists(), reason="reference/errors.md not present")
def test_catalog_agrees_with_the_published_error_page() -> None:
    text = ERRORS.read_text()
    published = {
        int(code): (int(status), title)
        for code, title, status in re.findall(
            r"Error Code: (\d+) \((.+?)\)\s+HTTP status Code: (\d+)", text)
    }
    assert published == PUBLISHED


def test_overrides_change_status_texts_and_more_info_base() -> None:
    catalog = ErrorCatalog(statuses={1014: 401}, titles={1005: "Empty"},
                           descriptions={1005: "d"}, more_info_base="https://docs.test/e/")
    assert catalog[1014].http_status == 401
    result = validate({"email": "a@example.com"}, "contacts.create", catalog=catalog)
    body = result.error.to_dict()
    assert body["codeDescription"] == "Empty"
    assert body["moreInfo"] == "https://docs.test/e/1005"


def test_override_of_unknown_code_is_refused() -> None:
    with pytest.raises(KeyError, match="unknown error code 4242"):
        ErrorCatalog(statuses={4242: 400})


def test_body_has_the_spec_keys_in_order() -> None:
    result = validate({"email": "a@example.com", "campaign": {"campaignId": "C"}, "name": ""},
                      "contacts.create")
    body = orjson.loads(result.error.to_json())
    assert list(body) == ["httpStatus", "code", "codeDescription", "message", "moreInfo",
                          "context", "uuid"]
    assert body["httpStatus"] == 400 and body["code"] == 1005
    assert body["moreInfo"] == "https://apidocs.getresponse.com/v3/errors#1005"
    parsed = uuid.UUID(body["uuid"])
    assert parsed.version == 4 and body["uuid"] == str(parsed)
    assert body["context"] == [{
        "validationType": "body", "fieldName": ["name"], "originalValue": "",
        "errorDescription": "Value cannot be empty: expected string length between 1 and 128, "
                            "got 0",
        "code": 1005, "limits": {"min": 1, "max": 128},
    }]
    assert isinstance(body["message"], str) and body["message"]


def test_each_body_gets_a_fresh_uuid() -> None:
    payload = {"email": "a@example.com"}
    first = validate(payload, "contacts.create").error
    second = validate(payload, "contacts.create").error
    assert first.uuid != second.uuid


def test_uuids_are_random_version_4_uuids_in_their_usual_text() -> None:
    import uuid

    from validator._results import _UUID_BATCH, new_uuid

    made = [new_uuid() for _ in range(3 * _UUID_BATCH)]
    assert len(set(made)) == len(made)
    for text in made:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122


def _uuid_in_child(queue: Any) -> None:
    queue.put(validate({"email": "a@example.com"}, "contacts.create").error.uuid)


def test_a_forked_worker_hands_out_other_uuids_than_its_parent() -> None:
    """UUIDs are made a batch at a time: a forked child must not reuse the parent's batch."""
    import multiprocessing

    payload = {"email": "a@example.com"}
    validate(payload, "contacts.create")  # the parent now holds a batch
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_uuid_in_child, args=(queue,))
    child.start()
    theirs = queue.get(timeout=60)
    child.join(timeout=60)
    mine = {validate(payload, "contacts.create").error.uuid for _ in range(300)}
    assert theirs not in mine
