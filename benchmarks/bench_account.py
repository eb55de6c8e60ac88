"""What the account's rules cost per payload: `contacts.create` without an account, and with one
(100 campaigns, 1,000 tags, 50 custom fields), on a valid contact that the quick test lets
through, one with a select custom field (still quick), and one with a phone custom field
(phonenumbers: always the engine).

    python benchmarks/bench_account.py            # ~15 s; --quick for a smoke run

Cases take turns, one batch each per round, so a change in the machine's load hits them alike;
the figure is the median of the per-call means of the batches."""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Callable
from typing import Any

from validator import Account, Validator

ACCOUNT = Account(
    campaigns=[{"campaignId": f"C{i}"} for i in range(100)],
    tags=[{"tagId": f"T{i}"} for i in range(1000)],
    custom_fields=[{"customFieldId": "fPh", "name": "phone", "type": "phone", "format": "text"},
                   {"customFieldId": "fAge", "name": "age", "type": "string",
                    "format": "single_select", "values": ["18-35", "36-50", "51+"]},
                   *({"customFieldId": f"F{i}", "name": f"f{i}", "type": "string",
                      "format": "text"} for i in range(48))])
BASE = {"email": "john.doe@example.com", "name": "John Doe", "campaign": {"campaignId": "C7"},
        "tags": [{"tagId": "T12"}, {"tagId": "T500"}]}
PAYLOADS = {
    "valid contact": BASE,
    "select field": {**BASE, "customFieldValues": [{"customFieldId": "fAge",
                                                    "value": ["18-35"]}]},
    "phone field": {**BASE, "customFieldValues": [{"customFieldId": "fPh",
                                                   "value": ["+48600100200"]}]},
}


def _per_call(call: Callable[[], Any], n: int) -> float:
    gc.disable()
    try:
        start = time.perf_counter_ns()
        for _ in range(n):
            call()
        return (time.perf_counter_ns() - start) / n / 1000
    finally:
        gc.enable()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rounds, n = (3, 2000) if args.quick else (9, 20000)
    plain = Validator("contacts.create")
    with_account = Validator("contacts.create", account=ACCOUNT)
    cases: dict[tuple[str, str], Callable[[], Any]] = {}
    for label, payload in PAYLOADS.items():
        assert plain.validate(payload).ok and with_account.validate(payload).ok
        cases[(label, "no account")] = lambda p=payload: plain.validate(p, plain=True)
        cases[(label, "account")] = lambda p=payload: with_account.validate(p, plain=True)
    times: dict[tuple[str, str], list[float]] = {key: [] for key in cases}
    for call in cases.values():
        _per_call(call, n // 10)  # warm-up
    for _ in range(rounds):
        for key, call in cases.items():
            times[key].append(_per_call(call, n))
    print(f"{'payload':<16}{'no account µs':>15}{'account µs':>13}{'ratio':>8}   spread")
    for label in PAYLOADS:
        base = statistics.median(times[(label, "no account")])
        ours = statistics.median(times[(label, "account")])
        spread = max(times[(label, "account")]) - min(times[(label, "account")])
        print(f"{label:<16}{base:>15.2f}{ours:>13.2f}{ours / base:>8.2f}   ±{spread / 2:.2f}")


if __name__ == "__main__":
    main()
