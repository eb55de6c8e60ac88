"""The integrations as each framework's users meet them: FastAPI's own OpenAPI and docs page,
the whole guard in `ValidBody`, the Flask extension (`init_app`, a per-view decorator) and the
Django middleware under Django's test client. Real apps, driven by each framework's client."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from validator.asgi import ValidBody, install_error_handler
from validator.web import Limits, MemoryRateLimiter

KEY = {"X-Auth-Token": "api-key abcdef12345"}
VALID = {"email": "ann@example.com", "campaign": {"campaignId": "pV3r"}}
INVALID = {"email": "ann@example.com"}  # no campaign: 1005


# --------------------------------------------------------------------------------------------
# FastAPI
# --------------------------------------------------------------------------------------------
def fastapi_app(body: ValidBody) -> FastAPI:
    app = FastAPI(title="shop")
    install_error_handler(app)

    @app.post("/v3/contacts", status_code=202)
    async def create(contact: Any = Depends(body)) -> dict[str, Any]:  # noqa: B008
        return {"got": contact["email"]}

    @app.get("/other")
    async def other() -> dict[str, str]:
        return {"ok": "yes"}

    return app


def test_fastapi_openapi_shows_the_request_schema_and_error_responses() -> None:
    from openapi_spec_validator import validate

    client = TestClient(fastapi_app(ValidBody("contacts.create")))
    document = client.get("/openapi.json").json()
    validate(document)  # still a valid OpenAPI document
    operation = document["paths"]["/v3/contacts"]["post"]
    assert operation["requestBody"] == {"required": True, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/contacts.create"}}}}
    schema = document["components"]["schemas"]["contacts.create"]
    assert {"email", "campaign"} <= set(schema["properties"])
    assert schema["required"] == ["email", "campaign"]
    responses = operation["responses"]
    assert set(responses) >= {"202", "400", "403", "429", "503"} and "422" not in responses
    assert "1014" in responses["403"]["description"]
    assert "1015" in responses["429"]["description"]
    assert responses["400"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorResponse"}
    assert "ErrorResponse" in document["components"]["schemas"]
    assert "HTTPValidationError" not in document["components"]["schemas"]
    assert any(p["name"] == "X-Auth-Token" for p in operation["parameters"])
    assert "requestBody" not in document["paths"]["/other"]["get"]
    # The docs page is FastAPI's own, reading that document.
    docs = client.get("/docs")
    assert docs.status_code == 200 and "/openapi.json" in docs.text


def test_fastapi_valid_body_answers_and_refuses_like_the_api() -> None:
    client = TestClient(fastapi_app(ValidBody("contacts.create")))
    ok = client.post("/v3/contacts", json=VALID, headers=KEY)
    assert (ok.status_code, ok.json()) == (202, {"got": "ann@example.com"})
    refused = client.post("/v3/contacts", json=INVALID, headers=KEY)
    assert refused.status_code == 400 and refused.json()["code"] == 1005
    assert client.post("/v3/contacts", json=VALID).json()["code"] == 1014


def test_fastapi_valid_body_applies_rate_limits_and_body_limits() -> None:
    limiter = MemoryRateLimiter(Limits(per_second=1000, per_window=3, window=600))
    client = TestClient(fastapi_app(ValidBody("contacts.create", rate_limiter=limiter,
                                              max_body=200)))
    answers = [client.post("/v3/contacts", json=VALID, headers=KEY) for _ in range(4)]
    assert [a.status_code for a in answers] == [202, 202, 202, 429]
    assert answers[0].headers["x-ratelimit-limit"] == "3"
    assert answers[0].headers["x-ratelimit-remaining"] == "2"
    assert answers[3].json()["code"] == 1015
    assert "x-ratelimit-reset" in answers[3].headers

    fresh = TestClient(fastapi_app(ValidBody("contacts.create", max_body=200)))
    big = {**VALID, "name": "x" * 500}
    too_big = fresh.post("/v3/contacts", json=big, headers=KEY)
    assert too_big.status_code == 400 and too_big.json()["code"] == 1007


def test_fastapi_valid_body_gives_back_its_concurrency_slot() -> None:
    limiter = MemoryRateLimiter(Limits(per_second=1000, per_window=1000, concurrent=1))
    client = TestClient(fastapi_app(ValidBody("contacts.create", rate_limiter=limiter)))
    # One at a time, each after the last has answered: the one slot is free each time.
    codes = [client.post("/v3/contacts", json=VALID, headers=KEY).status_code for _ in range(5)]
    assert codes == [202] * 5
    # A refused body gives it back too.
    assert client.post("/v3/contacts", json=INVALID, headers=KEY).status_code == 400
    assert client.post("/v3/contacts", json=VALID, headers=KEY).status_code == 202


# --------------------------------------------------------------------------------------------
# Flask
# --------------------------------------------------------------------------------------------
def flask_app(**options: Any) -> Any:
    from flask import Flask, request

    from validator.web.flask import Validation

    app = Flask(__name__)
    validation = Validation(**options)
    validation.init_app(app)

    @app.post("/v3/contacts")
    def api_create() -> tuple[str, int]:
        return "", 202

    @app.post("/signup/<shop>")
    @validation.body("contacts.create")
    def signup(shop: str) -> dict[str, Any]:
        checked = validation.validated
        return {"shop": shop, "email": checked.body["email"],
                "params": checked.params, "same": request.get_json() == checked.body}

    return app


def test_flask_extension_init_app_guards_the_api_routes() -> None:
    app = flask_app()
    assert "validator" in app.extensions
    client = app.test_client()
    assert client.post("/v3/contacts", json=VALID, headers=KEY).status_code == 202
    refused = client.post("/v3/contacts", json=INVALID, headers=KEY)
    assert refused.status_code == 400 and refused.get_json()["code"] == 1005
    assert refused.headers["Content-Type"] == "application/json"


def test_flask_view_decorator_checks_that_view() -> None:
    client = flask_app().test_client()
    ok = client.post("/signup/north", json=VALID, headers=KEY)
    assert ok.status_code == 200
    assert ok.get_json() == {"shop": "north", "email": "ann@example.com",
                             "params": {"shop": "north"}, "same": True}
    refused = client.post("/signup/north", json=INVALID, headers=KEY)
    assert refused.status_code == 400 and refused.get_json()["code"] == 1005
    assert client.post("/signup/north", json=VALID).get_json()["code"] == 1014
    wrong_type = client.post("/signup/north", data="x", headers={**KEY,
                                                                  "Content-Type": "text/plain"})
    assert wrong_type.get_json()["code"] == 1021


def test_flask_view_decorator_rate_limits() -> None:
    limiter = MemoryRateLimiter(Limits(per_second=1000, per_window=2, window=600))
    client = flask_app(rate_limiter=limiter, routes=[]).test_client()
    answers = [client.post("/signup/a", json=VALID, headers=KEY) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[0].headers["X-Ratelimit-Remaining"] == "1"
    assert answers[2].get_json()["code"] == 1015


# --------------------------------------------------------------------------------------------
# Django
# --------------------------------------------------------------------------------------------
def signup_view(request: Any) -> Any:
    from django.http import JsonResponse

    return JsonResponse({"email": request.validated.body["email"],
                         "body": request.body.decode()})


def free_view(request: Any) -> Any:
    from django.http import HttpResponse

    return HttpResponse("free")


@pytest.fixture(scope="module")
def django_client() -> Any:
    import django
    from django.conf import settings
    from django.urls import path

    module = sys.modules[__name__]
    module.urlpatterns = [path("signup", signup_view), path("free", free_view)]  # type: ignore[attr-defined]
    if not settings.configured:
        settings.configure(
            DEBUG=False, ALLOWED_HOSTS=["testserver"], ROOT_URLCONF=__name__,
            SECRET_KEY="test-only", MIDDLEWARE=["validator.web.django.ValidationMiddleware"],
            VALIDATOR={"routes": [("POST", "/signup", "contacts.create")], "max_body": 300},
        )
        django.setup()
    from django.test import Client

    return Client()


def test_django_middleware_checks_its_routes(django_client: Any) -> None:
    ok = django_client.post("/signup", VALID, content_type="application/json",
                            headers={"X-Auth-Token": KEY["X-Auth-Token"]})
    assert ok.status_code == 200
    assert ok.json()["email"] == "ann@example.com"
    assert '"campaignId"' in ok.json()["body"]  # the view reads the body unchanged
    refused = django_client.post("/signup", INVALID, content_type="application/json",
                                 headers={"X-Auth-Token": KEY["X-Auth-Token"]})
    assert refused.status_code == 400
    assert refused["Content-Type"] == "application/json"
    body = refused.json()
    assert body["code"] == 1005 and body["context"][0]["fieldName"] == ["campaign"]
    assert django_client.post("/signup", VALID, content_type="application/json"
                              ).json()["code"] == 1014
    big = django_client.post("/signup", {**VALID, "name": "x" * 400},
                             content_type="application/json",
                             headers={"X-Auth-Token": KEY["X-Auth-Token"]})
    assert big.json()["code"] == 1007
    assert django_client.get("/free").content == b"free"  # not a checked route
