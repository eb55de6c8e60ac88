"""Memory stays flat on big runs (issue 11): the run's indexes cost bytes, not objects, a key;
the worker processes are set up lean; and none of it changes an output."""

from __future__ import annotations

import json
import os
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from validator import ValidationOptions
from validator.batch import RunConfig, _hygiene, run


def _sequential_repeats(first: dict[int, tuple[int, int, int]], cap: int, file_index: int,
                        provider: list[tuple[int, int, int, int]], dropped: set[int]
                        ) -> list[tuple[int, int, int]]:
    """The provider-rules duplicates one row at a time, as a dict finds them: (row index,
    file and line of the first row)."""
    found = []
    for index, line, key, exact in provider:
        if index in dropped:
            continue
        earlier = first.get(key)
        if earlier is None:
            if len(first) < cap:
                first[key] = (exact, file_index, line)
            continue
        if earlier[0] != exact:
            found.append((index, earlier[1], earlier[2]))
    return found


@pytest.mark.parametrize("cap", [10**9, 700])
def test_provider_repeats_find_what_a_dict_finds(monkeypatch: pytest.MonkeyPatch,
                                                 cap: int) -> None:
    monkeypatch.setattr(_hygiene, "PROVIDER_INDEX_CAP", cap)
    rnd = random.Random(11)
    repeats = _hygiene.ProviderRepeats()
    files = {0: "a.csv", 1: "b.csv"}
    expected: dict[int, tuple[int, int, int]] = {}
    line = 1
    warned = 0
    for block in range(200):
        file_index = block * 2 // 200
        provider = []
        for index in range(rnd.randint(0, 60)):
            if rnd.random() < 0.3:
                continue  # not a provider row
            mailbox = rnd.randrange(1500)
            # Keys past 2**63 too: digests use all 64 bits.
            key = (mailbox * 0x9E3779B97F4A7C15) % 2**64
            exact = (mailbox * 7 + rnd.randrange(3)) * 0x100000001B3 % 2**64
            provider.append((index, line + index, key, exact))
        line += 61
        dropped = {i for i, *_ in provider if rnd.random() < 0.1}
        want = _sequential_repeats(expected, cap, file_index, provider, dropped)
        got = repeats.take(file_index, np.array(provider, np.uint64).reshape(-1, 4),
                           np.array(sorted(dropped), np.int64), files)
        assert [index for index, _ in got] == [index for index, _, _ in want]
        for (_, text), (_, first_file, first_line) in zip(got, want, strict=True):
            where = f"line {first_line}" + (f" of {files[first_file]}"
                                            if first_file != file_index else "")
            assert f"the address on {where} (provider" in text
        warned += len(got)
    assert repeats.size == len(expected) == min(cap, len(expected))
    assert cap > 1500 or len(expected) == cap
    assert repeats.index.nbytes == 24 * len(expected)
    assert warned > 100


# --------------------------------------------------------------------------------------------
# The processes of a run
# --------------------------------------------------------------------------------------------
def test_workers_run_polars_on_one_thread() -> None:
    from validator.batch._run import _pool

    pool = _pool(RunConfig([], jobs=2), ())
    try:
        sizes = {pool.submit(pl.thread_pool_size).result(timeout=300) for _ in range(4)}
    finally:
        pool.shutdown()
    assert sizes == {1}
    assert "POLARS_MAX_THREADS" not in os.environ  # the run's own process is left as it was


def _contacts(path: Path, rows: int) -> None:
    """Contacts with every outcome: valid, invalid, 1008 repeats across blocks and provider
    duplicates (warnings)."""
    lines = ["email,name,campaign.campaignId,scoring\n"]
    for i in range(rows):
        if i % 97 == 0:
            lines.append(f"user{i}.example.com,Name {i},pV3r,{i % 100}\n")
        elif i % 89 == 0:
            lines.append(f"user{i // 2}@example{i % 50}.com,Name {i},pV3r,n/a\n")
        elif i % 31 == 0:
            dot = "." if i % 62 else ""  # one mailbox, two spellings
            lines.append(f"user{dot}{i // 62}@gmail.com,Name {i},pV3r,1\n")
        else:
            lines.append(f"user{i // 2}@example{i // 2 % 50}.com,Name {i},pV3r,{i % 100}\n")
    path.write_text("".join(lines), encoding="utf-8")


def _outputs(tmp_path: Path, source: Path, tag: str, jobs: int) -> tuple[Any, ...]:
    valid, rejects, report = (tmp_path / f"{name}-{tag}"
                              for name in ("valid.csv", "rejects.jsonl", "report.json"))
    summary = run(RunConfig([str(source)], valid_path=str(valid), rejects_path=str(rejects),
                            report_path=str(report), jobs=jobs,
                            options=ValidationOptions(check_mx=False)))
    data = json.loads(report.read_text())
    outputs = (valid.read_bytes(), re.sub(rb'"uuid":"[^"]*"', b"", rejects.read_bytes()),
               {k: data[k] for k in ("rows", "byCode", "topReasons", "warnings")})
    return outputs, set(summary.timings)


def test_an_input_of_many_blocks_is_judged_in_the_workers_only(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "contacts.csv"
    _contacts(source, 3000)
    monkeypatch.setenv("VALIDATOR_BLOCK_BYTES", "9000")
    reference, _ = _outputs(tmp_path, source, "one", jobs=1)
    assert reference[2]["rows"]["invalid"] > 50 and reference[2]["warnings"]["duplicate"] > 5
    outputs, timed = _outputs(tmp_path, source, "two", jobs=2)
    assert outputs == reference
    # This process never held a block's frames: all went to the workers.
    assert "checkInProcess" not in timed and "waitForWorkers" in timed


def test_an_input_of_one_block_never_waits_for_workers(tmp_path: Path) -> None:
    source = tmp_path / "contacts.csv"
    _contacts(source, 300)
    reference, _ = _outputs(tmp_path, source, "one", jobs=1)
    outputs, timed = _outputs(tmp_path, source, "two", jobs=2)
    assert outputs == reference
    assert "checkInProcess" in timed and "waitForWorkers" not in timed
