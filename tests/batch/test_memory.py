"""Memory stays flat on big runs (issue 11): the run's indexes cost bytes, not objects, a key;
the worker processes are set up lean; and none of it changes an output."""

from __future__ import annotations

import random

import pytest

from validator.batch import _hygiene


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
        got = repeats.take(file_index, provider, dropped, files)
        assert [index for index, _ in got] == [index for index, _, _ in want]
        for (_, text), (_, first_file, first_line) in zip(got, want, strict=True):
            where = f"line {first_line}" + (f" of {files[first_file]}"
                                            if first_file != file_index else "")
            assert f"the address on {where} (provider" in text
        warned += len(got)
    assert len(repeats.first) == len(expected) == min(cap, len(expected))
    assert cap > 1500 or len(expected) == cap
    assert repeats.first.nbytes == 24 * len(expected)
    assert warned > 100
