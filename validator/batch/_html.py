"""``--report report.html``: the run's report as one page for people, readable offline.

One self-contained file: the styles inline, every chart an inline SVG drawn here from the
counts, no script and nothing fetched, so that it opens from a mail attachment or a phone's
files as it does in a browser. Rendered with jinja2 (the ``report`` extra) from the template
shipped in the package (``templates/report.html.j2``); jinja2 escapes every value."""

from __future__ import annotations

import datetime
import importlib.util
from collections import Counter
from collections.abc import Mapping
from typing import Any, Protocol

from .._catalog import DEFAULT_CATALOG
from .._exceptions import InputError
from .._options import ValidationOptions
from ..hygiene import KINDS
from ._mapping import MappingEntry
from ._options import BatchOptions
from ._reasons import Reason, body_json


class RunSummary(Protocol):
    """What the page shows of ``_run.RunSummary`` (a protocol: the run imports this module)."""

    rows_read: int
    valid: int
    invalid: int
    unverified: int
    by_code: Counter[int]
    by_field: Counter[str]
    by_domain: Counter[str]
    reasons: Counter[Reason]
    per_file: dict[str, dict[str, int]]
    input_errors: list[str]
    dns_domains: int
    dns_unknown: Counter[str]
    timings: dict[str, float]
    outputs: dict[str, str]
    examples: dict[Reason, list[tuple[str, int]]]
    example_bodies: dict[Reason, bytes]
    warnings: Counter[str]
    dns_outage: str

    @property
    def exit_code(self) -> int: ...


class RunConfig(Protocol):
    """What the page shows of ``_run.RunConfig``."""

    inputs: list[str]
    schema_name: str
    mapping: dict[str, MappingEntry]
    options: ValidationOptions
    batch: BatchOptions
    jobs: int
    chunk_size: int | None

TOP = 15
"""Bars per chart, reasons per code."""
HTML_SUFFIXES = (".html", ".htm")


def is_html(path: str) -> bool:
    return path.lower().endswith(HTML_SUFFIXES)


def check_html_support() -> None:
    """Say, before the run, that an HTML report needs jinja2 (an optional extra)."""
    if importlib.util.find_spec("jinja2") is None:
        raise InputError("an HTML report needs jinja2: pip install "
                         "'getresponse-validator[report]'")


def _bars(counter: Counter[Any] | dict[Any, int], top: int = TOP,
          label: Any = str) -> list[dict[str, Any]]:
    items = sorted(counter.items(), key=lambda kv: -kv[1])[:top]
    most = max((n for _, n in items), default=0) or 1
    return [{"label": label(key), "count": n, "width": round(100 * n / most, 2)}
            for key, n in items]


def _code_title(code: int) -> str:
    try:
        return DEFAULT_CATALOG[code].title
    except KeyError:
        return ""


def _groups(summary: RunSummary) -> list[dict[str, Any]]:
    """Failures grouped by code (with the code's total), then by field and reason."""
    by_code: dict[int, list[tuple[tuple[int, str, str], int]]] = {}
    for reason, n in summary.reasons.most_common():
        by_code.setdefault(reason[0], []).append((reason, n))
    groups = []
    for code, total in summary.by_code.most_common():
        reasons = by_code.get(code, [])
        groups.append({
            "code": code, "title": _code_title(code), "total": total,
            "reasons": [{
                "field": field, "text": text, "count": n,
                "examples": summary.examples.get((code, field, text), []),
                "body": body_json(summary.example_bodies[(code, field, text)])
                if summary.example_bodies.get((code, field, text)) else "",
            } for (_, field, text), n in reasons[:TOP]],
            "more": max(0, len(reasons) - TOP),
        })
    return groups


def _options(config: RunConfig) -> list[tuple[str, str]]:
    options, batch = config.options, config.batch
    dns = options.dns
    found = [
        ("inputs", ", ".join(config.inputs)),
        ("schema", config.schema_name),
        ("MX checks", "on" if options.check_mx else "off"),
        ("always combine (1000)", "on" if options.always_combine else "off"),
        ("1008 repeats", ("on, by provider rules" if batch.dedupe_normalised else "on")
         if batch.dedupe else "off"),
        ("hygiene warnings", "on" if batch.warnings else "off"),
        ("campaign ID default", batch.campaign_id or "—"),
        ("suppression list", f"{len(batch.suppressed_addresses):,} addresses, "
                             f"{len(batch.suppressed_domains):,} domains"
         if batch.suppresses else "—"),
        ("jobs", str(config.jobs)),
        ("rows per block", f"{config.chunk_size:,}" if config.chunk_size else "automatic"),
    ]
    if options.check_mx:
        found += [("DNS servers", ", ".join(dns.nameservers) if dns.nameservers else "system"),
                  ("DNS timeout", f"{dns.timeout:g} s"),
                  ("DNS cache", dns.cache_path or "—")]
    if config.mapping:
        found.append(("mapping", ", ".join(_mapped(k, v) for k, v in config.mapping.items())))
    return found


def _mapped(key: str, value: MappingEntry) -> str:
    """One mapping file entry as the page shows it; a join's key is the field it builds."""
    if isinstance(value, Mapping):
        return f"{' + '.join(map(str, value.get('join', ())))} → {key}"
    return f"{key} → {'(dropped)' if value is None else value}"


def context(summary: RunSummary, config: RunConfig) -> dict[str, Any]:
    """What the template shows, as plain values."""
    read = summary.rows_read or 1
    files = []
    for name, counts in summary.per_file.items():
        file_rows = counts["read"] or 1
        files.append({"name": name, **counts,
                      "parts": [(kind, round(100 * counts[kind] / file_rows, 2))
                                for kind in ("valid", "invalid", "unverified")]})
    total = summary.timings.get("total", 0.0)
    return {
        "generated": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "rows": {"read": summary.rows_read, "valid": summary.valid,
                 "invalid": summary.invalid, "unverified": summary.unverified},
        "shares": {kind: round(100 * getattr(summary, kind) / read, 1)
                   for kind in ("valid", "invalid", "unverified")},
        "files": files,
        "codes": _bars(summary.by_code, label=lambda c: f"{c} {_code_title(c)}"),
        "fields": _bars(summary.by_field),
        "domains": _bars(summary.by_domain),
        "groups": _groups(summary),
        "warnings": [{"kind": kind, "count": summary.warnings.get(kind, 0)} for kind in KINDS],
        "warnings_on": config.batch.warnings,
        "warning_bars": _bars({k: n for k, n in summary.warnings.items() if n}),
        "dns": {"on": config.options.check_mx, "looked_up": summary.dns_domains,
                "unknown": sum(summary.dns_unknown.values()),
                "reasons": summary.dns_unknown.most_common(10),
                "outage": summary.dns_outage},
        "timings": [(name, f"{seconds:.3f} s") for name, seconds in summary.timings.items()],
        "rate": f"{summary.rows_read / total:,.0f}" if total else "—",
        "options": _options(config),
        "outputs": sorted(summary.outputs.items()),
        "input_errors": summary.input_errors,
        "exit_code": summary.exit_code,
    }


def render_html(summary: RunSummary, config: RunConfig) -> bytes:
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("validator.batch", "templates"),
        autoescape=True, trim_blocks=True, lstrip_blocks=True,
        undefined=jinja2.StrictUndefined)
    environment.filters["n"] = lambda value: f"{value:,}"
    page = environment.get_template("report.html.j2").render(**context(summary, config))
    return page.encode("utf-8")
