"""The caller's credential (SPEC §5, 1014) and the key checks a host can plug in."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = ["Credential", "KeyCheck", "key_file_check"]

AuthKind = Literal["api-key", "bearer"]
# The `authenticationType` the API names in a 1014 context (its documented example says
# "auth_token" for X-Auth-Token); OAuth bearer tokens are named after their scheme.
AUTH_TYPES: dict[str, str] = {"api-key": "auth_token", "bearer": "oauth2"}
# OAuth bearer tokens are RFC 6750 b64tokens; the API's keys are what its OpenAPI document
# publishes for `X-Auth-Token: api-key <key>`: 8 to 32 letters and digits.
TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
API_KEY = re.compile(r"[A-Za-z0-9]{8,32}")


@dataclass(frozen=True, slots=True)
class Credential:
    kind: AuthKind
    value: str

    @property
    def authentication_type(self) -> str:
        return AUTH_TYPES[self.kind]


KeyCheck = Callable[[Credential], bool | Awaitable[bool]]


def key_file_check(path: str | Path) -> KeyCheck:
    """A key check that accepts the keys listed in a file, one a line (`#` starts a comment).

    Both API keys and bearer tokens are looked up in the same list.
    """
    keys = set()
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            keys.add(line)

    def check(credential: Credential) -> bool:
        return credential.value in keys

    return check
