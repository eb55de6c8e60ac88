"""The small helpers that count a refused row's failures: each shortcut they take gives what
the long way gives."""

from __future__ import annotations

import pytest

from validator._catalog import Code
from validator._results import Failure, only_unverifiable
from validator.batch._blocks import field_label
from validator.batch._reasons import HOLE, reason_template


@pytest.mark.parametrize(("path", "label"), [
    ((), "(row)"), (("email",), "email"), (("tags", 3, "tagId"), "tags[].tagId"),
    (("customFieldValues", 0, "value", 2), "customFieldValues[].value[]"),
])
def test_a_field_label_is_the_same_each_time_and_for_a_list(path: tuple[str | int, ...],
                                                            label: str) -> None:
    # (The second call of a tuple path is answered from the labels already spelled out.)
    assert field_label(path) == field_label(path) == field_label(list(path)) == label


@pytest.mark.parametrize(("description", "template"), [
    ("Field is required but missing", "Field is required but missing"),
    ("Expected string length between 1 and 128, got 200",
     f"Expected string length between 1 and 128, got {HOLE}"),
    ("The record has 3 fields, the header has 9", f"The record has {HOLE} fields, the header "
                                                   f"has {HOLE}"),
    ("The same row as line 4 (line 4 of a.csv)", f"The same row as line 4 (line {HOLE})"),
    ("Value contains the forbidden characters: '<', '>'",
     f"Value contains the forbidden characters: {HOLE}"),
    ("I forgot 12 things", "I forgot 12 things"),  # "got" inside a word is no count
])
def test_a_reason_template_takes_out_what_is_particular(description: str, template: str
                                                        ) -> None:
    assert reason_template(description) == template


def _failure(code: int) -> Failure:
    return Failure(code, ("email",), "a@b.cd", "x")


def test_only_1010s_are_unverified() -> None:
    unverified, invalid = _failure(Code.EXTERNAL_ERROR), _failure(Code.WRONG_FORMAT)
    assert not only_unverifiable([])
    assert only_unverifiable([unverified]) and only_unverifiable((unverified, unverified))
    assert not only_unverifiable([invalid, unverified])
    assert not only_unverifiable([unverified, invalid])
