"""Per-call cost of validating one `contacts.create` payload: this engine vs. the usual
Python alternatives, all in one process, on one core.

    python benchmarks/bench_validate.py            # ~30-45 s
    python benchmarks/bench_validate.py --quick    # fewer/shorter repeats, for a smoke test

Engines compared (each built once, before timing):

* ours        `Validator("contacts.create").validate(payload)`; for the invalid payload the
              full error body `r.error.to_dict()` is built as well.
* jsonschema  `Draft202012Validator` of the shipped (self-contained) schema with a
              `FormatChecker` for email (email-validator), ip/ipv4/ipv6 (ipaddress) and
              resource-id; `is_valid` / `list(iter_errors(...))`.
* fastjsonschema  `compile()` of the same schema with the same format callables. It raises
              on the FIRST error, so its invalid time covers
              one failure, not all of them.
* jsonschema_rs   `Draft202012Validator` of the same schema, `validate_formats=True`,
              the same format callables via `formats=`; `is_valid` / `list(iter_errors(...))`.
* pydantic    a v2 model with the same rules (lengths, patterns, strict types, nested models,
              email via email-validator, IP via ipaddress); `model_validate` /
              `ValidationError.errors()`.

Engine-only keywords of the shipped schemas (`notBlank`, `mx`, ...) are unknown keywords to
the other validators and are ignored by them (`mx` is off in ours too: no DNS here).

Timing: `time.perf_counter_ns` around batches of N calls, N calibrated so a batch takes
~`BATCH_S`; a warm-up of the same length first; then REPEATS batches; the reported figure is
the median of the per-call means of the batches. The garbage collector is disabled during a
batch (as `timeit` does), for every engine alike. The process is pinned to one CPU where the
OS allows it. Nothing is written to disk.
"""

from __future__ import annotations

import argparse
import copy
import gc
import ipaddress
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable
from importlib import metadata
from typing import Annotated, Any

# --------------------------------------------------------------------------- payloads

VALID: dict[str, Any] = {
    "name": "John Doe",
    "email": "john.doe+news@example-mail.co.uk",
    "campaign": {"campaignId": "pV3r"},
    "dayOfCycle": "42",
    "scoring": 8,
    "ipAddress": "1.2.3.4",
    "tags": [{"tagId": "kL6Nh"}, {"tagId": "xY7a"}],
    "customFieldValues": [
        {"customFieldId": "n5dF", "value": ["white"]},
        {"customFieldId": "z7Ua", "value": ["18-29", "30-39"]},
    ],
}

# Six faults of five kinds: length (1007), e-mail syntax (1003), empty value (1005),
# pattern (1003), wrong type (1006), IP format (1003).
INVALID: dict[str, Any] = {
    "name": "J" * 200,
    "email": "john..doe@example-mail",
    "campaign": {"campaignId": ""},
    "dayOfCycle": "4x2",
    "scoring": "eight",
    "ipAddress": "1.2.3.999",
    "tags": [{"tagId": "kL6Nh"}, {"tagId": "xY7a"}],
    "customFieldValues": [
        {"customFieldId": "n5dF", "value": ["white"]},
        {"customFieldId": "z7Ua", "value": ["18-29", "30-39"]},
    ],
}
INVALID_FAULTS = 6
COLD_POOL = 4096  # > the engine's e-mail verdict cache (2048)

GOAL_VALID_US = 10.0
GOAL_VALID_VS_JSONSCHEMA = 20.0
GOAL_INVALID_US = 20.0  # issue 11, item 5

# --------------------------------------------------------------------------- shared formats

from email_validator import EmailNotValidError, validate_email  # noqa: E402

_RESOURCE_ID = re.compile(r"[A-Za-z0-9]{1,64}")


def is_email(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


def is_ipv4(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        return False
    return True


def is_ipv6(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return False
    return True


def is_ip(value: object) -> bool:
    return is_ipv4(value) or is_ipv6(value)


def is_resource_id(value: object) -> bool:
    return not isinstance(value, str) or _RESOURCE_ID.fullmatch(value) is not None


FORMATS: dict[str, Callable[[Any], bool]] = {
    "email": is_email,
    "ip": is_ip,
    "ipv4": is_ipv4,
    "ipv6": is_ipv6,
    "resource-id": is_resource_id,
}

# --------------------------------------------------------------------------- schemas


def load_schemas() -> tuple[dict[str, Any], str]:
    """The very document the engine uses (from its registry), deep-copied. The shipped
    schemas are generated self-contained (no cross-file `$ref`), so every engine takes it
    as it is."""
    from validator import default_registry

    registry = default_registry()
    main, main_uri = registry.get("contacts.create")
    return copy.deepcopy(main), main_uri


# --------------------------------------------------------------------------- engines
# Each builder returns (valid_fn, invalid_fn, note); each fn takes the payload and returns
# the number of failures it found (0 for valid), so that the results can be sanity-checked.


def build_ours() -> tuple[Callable[[Any], int], Callable[[Any], int], str]:
    from validator import Validator

    v = Validator("contacts.create")

    def valid(payload: Any) -> int:
        r = v.validate(payload)
        return 0 if r.ok else len(r.failures)

    def invalid(payload: Any) -> int:
        r = v.validate(payload)
        if r.ok:
            return 0
        return len(r.error.to_dict()["context"])

    return valid, invalid, "validate() (+ error.to_dict() when invalid)"


def build_jsonschema() -> tuple[Callable[[Any], int], Callable[[Any], int], str]:
    from jsonschema import Draft202012Validator, FormatChecker

    main, main_uri = load_schemas()
    checker = FormatChecker(formats=())
    for name, fn in FORMATS.items():
        checker.checks(name)(fn)
    main.setdefault("$id", main_uri)
    v = Draft202012Validator(main, format_checker=checker)

    def valid(payload: Any) -> int:
        return 0 if v.is_valid(payload) else -1

    def invalid(payload: Any) -> int:
        return len(list(v.iter_errors(payload)))

    return valid, invalid, "is_valid / list(iter_errors)"


def build_fastjsonschema() -> tuple[Callable[[Any], int], Callable[[Any], int], str]:
    import fastjsonschema

    schema, _ = load_schemas()
    # fastjsonschema knows drafts 4/6/7 only; every keyword this schema uses (type, required,
    # properties, items as one schema, pattern, min/maxLength, enum, $ref to a JSON pointer)
    # means the same in draft 7 and 2020-12.
    schema["$schema"] = "http://json-schema.org/draft-07/schema#"
    formats = {name: fn for name, fn in FORMATS.items() if name != "ipv4" and name != "ipv6"}
    validate = fastjsonschema.compile(schema, formats=formats)
    error = fastjsonschema.JsonSchemaValueException

    def valid(payload: Any) -> int:
        try:
            validate(payload)
        except error:
            return -1
        return 0

    def invalid(payload: Any) -> int:
        try:
            validate(payload)
        except error:
            return 1
        return 0

    return valid, invalid, "compile(); stops at the 1st error"


def build_jsonschema_rs() -> tuple[Callable[[Any], int], Callable[[Any], int], str]:
    import jsonschema_rs

    schema, _ = load_schemas()
    try:
        v = jsonschema_rs.Draft202012Validator(schema, formats=FORMATS, validate_formats=True)
        note = "is_valid / list(iter_errors); formats= callables"
    except TypeError:  # an old binding without `formats=`
        v = jsonschema_rs.Draft202012Validator(schema, validate_formats=True)
        note = "is_valid / list(iter_errors); BUILT-IN formats (no formats=)"

    def valid(payload: Any) -> int:
        return 0 if v.is_valid(payload) else -1

    def invalid(payload: Any) -> int:
        return len(list(v.iter_errors(payload)))

    return valid, invalid, note


def build_pydantic() -> tuple[Callable[[Any], int], Callable[[Any], int], str]:
    from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

    def email(value: str) -> str:
        if value.strip() == "":
            raise ValueError("blank")
        validate_email(value, check_deliverability=False)  # EmailNotValidError is a ValueError
        return value

    def ip(value: str) -> str:
        ipaddress.ip_address(value)
        return value

    def not_blank(value: str) -> str:
        if value.strip() == "":
            raise ValueError("blank")
        return value

    ResourceId = Annotated[str, Field(pattern=r"^[A-Za-z0-9]{1,64}$"), AfterValidator(not_blank)]

    class Strict(BaseModel):
        # JSON types, not Python coercions: "8" is not a number, 8 is not a string.
        model_config = ConfigDict(strict=True)

    class Campaign(Strict):
        campaignId: ResourceId

    class Tag(Strict):
        tagId: ResourceId

    class CustomFieldValue(Strict):
        customFieldId: ResourceId
        value: list[str]

    class NewContact(Strict):
        name: Annotated[str, Field(min_length=1, max_length=128), AfterValidator(not_blank)] \
            | None = None
        campaign: Campaign
        email: Annotated[str, AfterValidator(email)]
        dayOfCycle: Annotated[str, Field(pattern=r"^[0-9]+$")] | None = None
        scoring: float | None = None
        ipAddress: Annotated[str, AfterValidator(ip)] | None = None
        tags: list[Tag] | None = None
        customFieldValues: list[CustomFieldValue] | None = None

    model_validate = NewContact.model_validate

    def valid(payload: Any) -> int:
        try:
            model_validate(payload)
        except ValidationError as exc:
            return len(exc.errors())
        return 0

    invalid = valid
    return valid, invalid, "model_validate / ValidationError.errors()"


ENGINES: list[tuple[str, Callable[[], tuple[Callable[[Any], int], Callable[[Any], int], str]]]] = [
    ("ours", build_ours),
    ("jsonschema", build_jsonschema),
    ("fastjsonschema", build_fastjsonschema),
    ("jsonschema_rs", build_jsonschema_rs),
    ("pydantic", build_pydantic),
]

# --------------------------------------------------------------------------- timing


def _batch_ns(fn: Callable[[Any], int], payload: Any, n: int) -> int:
    loop = range(n)
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        t0 = time.perf_counter_ns()
        for _ in loop:
            fn(payload)
        return time.perf_counter_ns() - t0
    finally:
        if gc_was_enabled:
            gc.enable()


def _calibrate(fn: Callable[[Any], int], payload: Any, batch_s: float) -> int:
    """Calls per batch so that one batch takes about `batch_s`."""
    n = 1
    while True:
        elapsed = _batch_ns(fn, payload, n)
        if elapsed >= batch_s * 1e8:  # a tenth of the target is enough to extrapolate
            break
        n *= 2
    return max(1, int(n * (batch_s * 1e9) / max(elapsed, 1)))


def measure_all(cases: dict[str, tuple[Callable[[Any], int], Any]], repeats: int,
                batch_s: float) -> dict[str, tuple[float, float]]:
    """For each case: the median over `repeats` batches of the mean ns per call, and the
    batches' spread ((max - min) / median, a sign of a noisy host).

    The cases take turns, one batch each per round, so that a change in the machine's load
    hits every engine alike instead of whichever happened to be measured at the time."""
    sizes = {key: _calibrate(fn, payload, batch_s) for key, (fn, payload) in cases.items()}
    for key, (fn, payload) in cases.items():  # warm-up: one full batch each, discarded
        _batch_ns(fn, payload, sizes[key])
    samples: dict[str, list[float]] = {key: [] for key in cases}
    for _ in range(repeats):
        for key, (fn, payload) in cases.items():
            samples[key].append(_batch_ns(fn, payload, sizes[key]) / sizes[key])
    out = {}
    for key, per_call in samples.items():
        median = statistics.median(per_call)
        out[key] = (median, (max(per_call) - min(per_call)) / median)
    return out


# --------------------------------------------------------------------------- report


def _pin_one_cpu() -> str:
    if hasattr(os, "sched_setaffinity") and hasattr(os, "sched_getaffinity"):
        cpus = sorted(os.sched_getaffinity(0))
        if cpus:
            os.sched_setaffinity(0, {cpus[-1]})
            return f"pinned to CPU {cpus[-1]}"
    return "not pinned (no sched_setaffinity)"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _ratio(ours: float, other: float) -> str:
    if ours <= 0 or other <= 0:
        return "n/a"
    r = other / ours
    return f"{r:.1f}x faster" if r >= 1 else f"{1 / r:.1f}x slower"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed batches per case")
    parser.add_argument("--batch", type=float, default=0.25, help="seconds per batch")
    parser.add_argument("--quick", action="store_true", help="3 repeats x 0.05 s (smoke test)")
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.batch = 3, 0.05

    started = time.perf_counter()
    pinned = _pin_one_cpu()
    print(f"Python {sys.version.split()[0]} ({platform.python_implementation()}) on "
          f"{platform.system()} {platform.machine()}, {_cpu_model()}; {pinned}")
    print("packages: " + ", ".join(
        f"{d} {_version(d)}" for d in ("getresponse-validator", "jsonschema", "referencing",
                                       "fastjsonschema", "jsonschema-rs", "pydantic",
                                       "pydantic-core", "email-validator")))
    if hasattr(os, "getloadavg"):
        load = os.getloadavg()[0]
        print(f"load average (1 min) {load:.2f} on {os.cpu_count()} CPUs"
              + ("  <- busy host: figures will be inflated and noisy" if load > 0.5 else ""))
    print(f"method: {args.repeats} batches x ~{args.batch:.2f} s per case after a warm-up batch, "
          "cases interleaved round-robin; median of per-call means; gc off in batches; "
          "single thread\n")

    cases: dict[str, tuple[Callable[[Any], int], Any]] = {}
    checked: dict[str, tuple[int, int, str]] = {}
    for name, build in ENGINES:
        try:
            valid_fn, invalid_fn, note = build()
        except Exception as exc:  # a missing or broken optional package: report, go on
            print(f"  {name}: skipped ({type(exc).__name__}: {exc})")
            continue
        found_valid = valid_fn(VALID)
        found_invalid = invalid_fn(INVALID)
        if found_valid != 0:
            print(f"  WARNING {name}: the valid contact was rejected ({found_valid})")
        if found_invalid == 0:
            print(f"  WARNING {name}: the invalid contact was accepted")
        cases[f"{name}/valid"] = (valid_fn, VALID)
        cases[f"{name}/invalid"] = (invalid_fn, INVALID)
        checked[name] = (found_valid, found_invalid, note)

    # Our engine caches email-validator's verdict on addresses its fast path does not accept
    # (the invalid contact's e-mail among them), so a loop over one payload hits that cache.
    # Real traffic rarely repeats a bad address: time it again with a distinct bad e-mail per
    # call, cycling through more addresses than the cache holds.
    if "ours" in checked:
        import itertools

        from validator import Validator

        v = Validator("contacts.create")
        pool = [dict(INVALID, email=f"john..doe{i}@example-mail") for i in range(COLD_POOL)]
        nxt = itertools.cycle(pool).__next__

        def ours_cold(_: Any) -> int:
            r = v.validate(nxt())
            return 0 if r.ok else len(r.error.to_dict()["context"])

        cases["ours/cold"] = (ours_cold, None)
    cases["email_validator"] = (lambda p: is_email(p) and 0, VALID["email"])

    timed = measure_all(cases, args.repeats, args.batch)
    results: dict[str, tuple[float, float, int, int, str]] = {}
    spreads: dict[str, tuple[float, float]] = {}
    for name, (found_valid, found_invalid, note) in checked.items():
        (tv, sv), (ti, si) = timed[f"{name}/valid"], timed[f"{name}/invalid"]
        results[name] = (tv, ti, found_valid, found_invalid, note)
        spreads[name] = (sv, si)
    cold_invalid = timed["ours/cold"][0] if "ours/cold" in timed else None
    ref_email = timed["email_validator"][0]

    head = (f"{'engine':<15} {'valid us/call':>13} {'valid/s':>11} {'invalid us/call':>15} "
            f"{'errors':>6}  {'ours vs it (valid)':>19}  {'ours vs it (invalid)':>20}  "
            f"{'spread v/i':>10}  how")
    print(head)
    print("-" * len(head))
    ours = results.get("ours")
    for name, (tv, ti, _, fi, note) in results.items():
        rv = "-" if name == "ours" or ours is None else _ratio(ours[0], tv)
        ri = "-" if name == "ours" or ours is None else _ratio(ours[1], ti)
        sv, si = spreads[name]
        spread = f"{sv:.0%}/{si:.0%}"
        print(f"{name:<15} {tv / 1e3:>13.2f} {1e9 / tv:>11,.0f} {ti / 1e3:>15.2f} "
              f"{fi:>6}  {rv:>19}  {ri:>20}  {spread:>10}  {note}")
    if cold_invalid is not None:
        print(f"{'ours, cold':<15} {'':>13} {'':>11} {cold_invalid / 1e3:>15.2f} {6:>6}  "
              f"{'':>19}  {'':>20}  {'':>10}  invalid contact, a distinct bad e-mail each call "
              "(no verdict cache hit)")
    print(f"\n(errors = failures reported for the invalid contact, which has {INVALID_FAULTS}; "
          f"for reference, one email_validator.validate_email() call on the valid address "
          f"costs {ref_email / 1e3:.2f} us;\n spread = (slowest - fastest batch) / median, "
          "for the valid / invalid contact: above ~10% the host was busy, re-run)")

    if ours is not None:
        print()
        for name, (tv, ti, *_rest) in results.items():
            if name != "ours":
                print(f"ours is {_ratio(ours[0], tv)} than {name} on the valid contact, "
                      f"{_ratio(ours[1], ti)} on the invalid one")
        print("\nGoals:")
        tv, ti = ours[0] / 1e3, ours[1] / 1e3
        print(f"  [{'PASS' if tv <= GOAL_VALID_US else 'MISS'}] valid contact <= "
              f"{GOAL_VALID_US:g} us median: {tv:.2f} us")
        if "jsonschema" in results:
            speedup = results["jsonschema"][0] / ours[0]
            print(f"  [{'PASS' if speedup >= GOAL_VALID_VS_JSONSCHEMA else 'MISS'}] valid contact "
                  f">= {GOAL_VALID_VS_JSONSCHEMA:g}x faster than cached jsonschema: "
                  f"{speedup:.1f}x")
        else:
            print("  [MISS] valid contact >= 20x cached jsonschema: jsonschema not measured")
        print(f"  [{'PASS' if ti <= GOAL_INVALID_US else 'MISS'}] invalid contact with the full "
              f"error body <= {GOAL_INVALID_US:g} us: {ti:.2f} us")
    print(f"\ntotal run time {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
