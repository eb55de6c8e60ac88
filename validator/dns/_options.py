"""How MX checks reach DNS: one typed set of options, checked once, for every caller (the
Python API, batch runs, the web adapters and each command)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .._exceptions import OptionsError
from ._canaries import canary_names

if TYPE_CHECKING:
    from ._checker import MXChecker


@dataclass(frozen=True, slots=True)
class DNSOptions:
    """The resolver for MX checks.

    * `nameservers`: addresses to ask; `None` reads the system's configuration.
    * `port`: their port.
    * `timeout`: seconds the check of one domain may take (all its questions together).
    * `budget`: seconds a whole chunk of checks may take (one request, one `validate_many`);
      domains not decided by then are 1010. `None`: no bound beyond `timeout`.
    * `cache_path`: a SQLite file that keeps verdicts between runs; `None`: the process-wide
      in-memory cache.
    * `canaries`: names that must exist, asked when the resolver first says a domain does not
      exist; if it denies one of them too, its denials are 1010, not 1002 (SPEC §6). `None`:
      the built-in gmail.com, outlook.com, yahoo.com, whichever resolver is asked; `()`: none.

    Bad values raise `OptionsError` (a `ValueError`) naming the option.
    """

    nameservers: tuple[str, ...] | None = None
    port: int = 53
    timeout: float = 2.0
    budget: float | None = None
    cache_path: str | None = None
    canaries: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.nameservers is not None:
            if isinstance(self.nameservers, str):
                raise OptionsError("nameservers must be a sequence of addresses, not one string")
            object.__setattr__(self, "nameservers", tuple(self.nameservers))
            if not self.nameservers or not all(self.nameservers):
                raise OptionsError("nameservers must not be empty (use None for the system's)")
        if isinstance(self.port, bool) or not isinstance(self.port, int) \
                or not 0 < self.port < 65536:
            raise OptionsError(f"port must be between 1 and 65535, got {self.port!r}")
        if not _positive(self.timeout):
            raise OptionsError(f"timeout must be a positive number of seconds, "
                               f"got {self.timeout!r}")
        if self.budget is not None and not _positive(self.budget):
            raise OptionsError(f"budget must be a positive number of seconds, "
                               f"got {self.budget!r}")
        if self.canaries is not None:
            object.__setattr__(self, "canaries", canary_names(self.canaries))

    @classmethod
    def from_server(cls, server: str | None, *, timeout: float = 2.0,
                    budget: float | None = None, cache_path: str | None = None,
                    canaries: tuple[str, ...] | None = None) -> DNSOptions:
        """Options for `HOST[:PORT]` (IPv6 as `[::1]:5353`); `None` or "" for the system's
        resolver."""
        if not server:
            return cls(timeout=timeout, budget=budget, cache_path=cache_path, canaries=canaries)
        host, port = server, "53"
        if server.startswith("["):
            host, bracket, rest = server[1:].partition("]")
            # "[::1" and "[::1]5353" are typos to refuse, not the address on port 53.
            port = rest[1:] if rest.startswith(":") else ("53" if bracket and not rest else "")
        elif server.count(":") == 1:
            host, port = server.split(":")
        if not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536 or not host:
            raise OptionsError(f"expected HOST or HOST:PORT, got {server!r}")
        return cls(nameservers=(host,), port=int(port), timeout=timeout, budget=budget,
                   cache_path=cache_path, canaries=canaries)

    def checker(self, *, private_cache: bool = False) -> MXChecker:
        """The MX checker these options describe: the one way the package builds one.

        Its cache is the SQLite file of `cache_path`, else a new in-memory one with
        `private_cache` (a batch run: one cache for the run), else the process-wide one."""
        import sqlite3

        from ._cache import DNSCache, default_cache
        from ._checker import MXChecker

        try:
            if self.cache_path is not None:
                cache = DNSCache(path=self.cache_path)
            else:
                cache = DNSCache() if private_cache else default_cache
        except (OSError, sqlite3.Error) as exc:
            raise OptionsError(f"cannot use {self.cache_path} as a DNS cache: {exc}") from exc
        return MXChecker(nameservers=self.nameservers, port=self.port, timeout=self.timeout,
                         budget=self.budget, cache=cache, canaries=self.canaries)


def _positive(value: object) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value) and value > 0)
