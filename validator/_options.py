"""The options a payload is checked under, as one typed, immutable object.

`Validator`, `validate`, the web adapters and batch runs all take a `ValidationOptions`
(and the README's keywords, which build one), so an option is declared, checked and
documented once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from os import PathLike
from typing import Any, TypedDict

from ._account import Account
from ._catalog import ErrorCatalog
from ._exceptions import OptionsError
from .dns import DNSOptions

FormatChecker = Callable[[str], "str | None"]
"""A user's format rule: `None` for a good value, else the sentence saying what is wrong."""


@dataclass(frozen=True, slots=True)
class ValidationOptions:
    """How payloads are checked.

    * `always_combine`: always answer 1000 (what the live API does today) instead of the
      single code when all failures share one.
    * `catalog`: the error catalog with your overrides; `None` for the published one.
    * `assert_formats`: `False` makes `format` an annotation only (plain JSON Schema 2020-12).
    * `formats`: your own format rules, `{"sku": fn}`.
    * `phone_region`: the region of national phone numbers (`"PL"`); otherwise E.164.
    * `check_mx`: also check that e-mail domains accept mail (1002; a failed lookup is 1010),
      through the resolver that `dns` describes.
    * `account`: the user's campaigns, tags and custom fields (an `Account`, or the path of an
      account file or folder): unknown ones are 1001, custom-field values are checked by their
      definitions.
    """

    always_combine: bool = False
    catalog: ErrorCatalog | None = field(default=None, compare=False)
    assert_formats: bool = True
    formats: Mapping[str, FormatChecker] = field(default_factory=dict, compare=False)
    phone_region: str | None = None
    check_mx: bool = False
    dns: DNSOptions = field(default_factory=DNSOptions)
    account: Account | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.formats, Mapping) or not all(
                isinstance(k, str) and callable(v) for k, v in self.formats.items()):
            raise OptionsError("formats must map format names to functions")
        if self.catalog is not None and not isinstance(self.catalog, ErrorCatalog):
            raise OptionsError("catalog must be an ErrorCatalog")
        if self.phone_region is not None and not (
                isinstance(self.phone_region, str) and len(self.phone_region) == 2):
            raise OptionsError(f"phone_region must be a two-letter region such as 'PL', "
                               f"got {self.phone_region!r}")
        if not isinstance(self.dns, DNSOptions):
            raise OptionsError("dns must be a DNSOptions")
        object.__setattr__(self, "formats", dict(self.formats))
        if isinstance(self.account, str | PathLike):
            object.__setattr__(self, "account", Account.load(self.account))
        elif self.account is not None and not isinstance(self.account, Account):
            raise OptionsError("account must be an Account or the path of an account file")

    def rules_key(self) -> tuple[Any, ...]:
        """What the compiled rules depend on: equal keys, the same compiled engine."""
        return (self.assert_formats, self.check_mx, self.phone_region,
                tuple(sorted(self.formats.items(), key=lambda item: item[0])),
                self.account.fingerprint if self.account is not None else None)

    def key(self) -> tuple[Any, ...]:
        """Equal keys, interchangeable validators (the catalog by identity)."""
        return (*self.rules_key(), self.always_combine, id(self.catalog), self.dns)

    @classmethod
    def build(cls, base: ValidationOptions | None = None, **keywords: Any) -> ValidationOptions:
        """`base` (or the defaults) with the README's keywords applied: the DNS ones
        (`nameservers`, `dns_port`, `dns_timeout`, `dns_budget`, `dns_cache`, `dns_canaries`)
        go to `dns`."""
        options = base if base is not None else cls()
        if not keywords:
            return options
        dns_keys = {k: keywords.pop(k) for k in list(keywords) if k in _DNS_KEYWORDS}
        unknown = set(keywords) - _FIELDS
        if unknown:
            raise TypeError(f"unknown option(s): {', '.join(sorted(unknown))}; "
                            f"known: {', '.join(sorted(_FIELDS | set(_DNS_KEYWORDS)))}")
        if dns_keys:
            keywords["dns"] = replace(options.dns, **{_DNS_KEYWORDS[k]: v
                                                      for k, v in dns_keys.items()})
        if keywords.get("formats") is None:
            keywords.pop("formats", None)
        return replace(options, **keywords)


class OptionKeywords(TypedDict, total=False):
    """The keywords `validate` and `Validator` take besides an options object."""

    always_combine: bool
    catalog: ErrorCatalog | None
    assert_formats: bool
    formats: Mapping[str, FormatChecker] | None
    phone_region: str | None
    check_mx: bool
    dns: DNSOptions
    account: Account | str | PathLike[str] | None
    nameservers: tuple[str, ...] | list[str] | None
    dns_port: int
    dns_timeout: float
    dns_budget: float | None
    dns_cache: str | None
    dns_canaries: tuple[str, ...] | list[str] | None


_DNS_KEYWORDS = {"nameservers": "nameservers", "dns_port": "port", "dns_timeout": "timeout",
                 "dns_budget": "budget", "dns_cache": "cache_path", "dns_canaries": "canaries"}
_FIELDS = frozenset(ValidationOptions.__dataclass_fields__)
