"""The README's code runs: every ```python block in order in one namespace (as a reader types
them into one session), every ```sh block line by line in bash, every ```json block
parses, so the documentation cannot drift from the code.

In Python blocks, a comment after an expression that starts with a literal is what the
expression gives (`result.ok  # False`, `result.error.code  # 1005: ...`), and `# raises X`
means it raises X. Shell commands must end with 0 or 1 (1: some input was refused, the point of
several examples) and print no traceback or usage error. They run in a folder holding the
files the examples name (`contacts.csv`, `unsubscribed.txt` ...), made from the samples.

A block that cannot run here is marked on the line before it with
`<!-- readme-test: skip: why -->`; there are few, each with its reason.
"""

from __future__ import annotations

import ast
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import validator

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
SKIP = re.compile(r"<!-- readme-test: skip: (.+?) -->")
MAX_SKIPS = 6


@dataclass
class Block:
    language: str
    line: int
    code: str
    skip: str | None


def blocks() -> list[Block]:
    lines = README.read_text(encoding="utf-8").splitlines()
    found = []
    index = 0
    while index < len(lines):
        fence = re.fullmatch(r"```(\w+)", lines[index])
        if fence is None:
            index += 1
            continue
        end = lines.index("```", index + 1)
        mark = SKIP.fullmatch(lines[index - 1]) if index else None
        found.append(Block(fence.group(1), index + 1, "\n".join(lines[index + 1:end]) + "\n",
                           mark.group(1) if mark else None))
        index = end + 1
    return found


def test_the_readme_has_code_and_skips_few_blocks_each_for_a_reason() -> None:
    found = blocks()
    assert {b.language for b in found} <= {"python", "sh", "json"}
    assert sum(b.language == "python" for b in found) >= 4
    assert sum(b.language == "sh" for b in found) >= 5
    skipped = [b for b in found if b.skip]
    assert len(skipped) <= MAX_SKIPS, [b.line for b in skipped]
    assert all(len(b.skip or "") > 10 for b in skipped)


JSON = [(b.line, b.code) for b in blocks() if b.language == "json"]


@pytest.mark.parametrize("line, code", JSON, ids=[f"line{line}" for line, _ in JSON])
def test_json_blocks_are_json(line: int, code: str) -> None:
    json.loads(code)  # a file the reader is told to write (a mapping ...) must parse as shown


# --------------------------------------------------------------------------------------------
# Python
# --------------------------------------------------------------------------------------------
def _expected(comment: str) -> tuple[str, object] | None:
    """("value", literal) or ("raises", exception class) from a trailing comment."""
    raises = re.fullmatch(r"raises ([\w.]+)", comment)
    if raises:
        value: object = validator
        for part in raises.group(1).split(".")[1:]:
            value = getattr(value, part)
        return "raises", value
    for text in (comment, *re.findall(r"^[^\s:,]+", comment)):
        try:
            return "value", ast.literal_eval(text)
        except (ValueError, SyntaxError):
            continue
    return None


def _comments(code: str) -> dict[int, str]:
    import io
    import tokenize

    return {tok.start[0]: tok.string[1:].strip()
            for tok in tokenize.generate_tokens(io.StringIO(code).readline)
            if tok.type == tokenize.COMMENT}


def _run_python(block: Block, namespace: dict[str, object]) -> int:
    """Run a block statement by statement; returns how many comments it checked."""
    tree = ast.parse(block.code)
    comments = _comments(block.code)
    checked = 0
    for statement in tree.body:
        where = f"README.md line {block.line + statement.lineno}"
        expected = _expected(comments.get(statement.end_lineno or 0, "")) \
            if isinstance(statement, ast.Expr) else None
        if expected is None:
            module = ast.Module(body=[statement], type_ignores=[])
            exec(compile(module, where, "exec"), namespace)
            continue
        code = compile(ast.Expression(statement.value), where, "eval")
        kind, value = expected
        if kind == "raises":
            assert isinstance(value, type)
            with pytest.raises(value):
                eval(code, namespace)
        else:
            got = eval(code, namespace)
            assert got == value, f"{where}: gives {got!r}, the comment says {value!r}"
        checked += 1
    return checked


def test_python_blocks_run_and_their_comments_hold(monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    _fixtures(tmp_path)
    namespace: dict[str, object] = {"__name__": "readme"}
    checked = 0
    for block in blocks():
        if block.language == "python" and not block.skip:
            checked += _run_python(block, namespace)
    assert checked >= 6


# --------------------------------------------------------------------------------------------
# Shell
# --------------------------------------------------------------------------------------------
def _fixtures(folder: Path) -> None:
    """The files the examples name, made from the samples."""
    shutil.copytree(REPO / "samples", folder / "samples")
    shutil.copy(REPO / "samples" / "contacts.csv", folder / "contacts.csv")
    shutil.copy(REPO / "samples" / "contacts.csv", folder / "more.csv")
    shutil.copy(REPO / "samples" / "contact.json", folder / "contact.json")
    shutil.copy(REPO / "samples" / "account.json", folder / "account.json")
    contacts = [{"email": f"reader{i}@example.com", "campaign": {"campaignId": "pV3r"}}
                for i in range(5)]
    (folder / "contacts.json").write_text(json.dumps(contacts))
    with gzip.open(folder / "dump.jsonl.gz", "wt") as out:
        out.writelines(json.dumps(c) + "\n" for c in contacts)
    (folder / "unsubscribed.txt").write_text("reader1@example.com\n@spam.example\n")


def _commands(code: str) -> list[str]:
    """The block's commands, a backslash-continued line joined to the next."""
    return [c for c in code.replace("\\\n", " ").splitlines()
            if c.strip() and not c.lstrip().startswith("#")]


SHELL = [(b.line, b.code) for b in blocks() if b.language == "sh" and not b.skip]


@pytest.mark.parametrize("line, code", SHELL, ids=[f"line{line}" for line, _ in SHELL])
def test_shell_blocks_run(line: int, code: str, tmp_path: Path) -> None:
    _fixtures(tmp_path)
    bin_dir = os.path.dirname(sys.executable)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    for command in _commands(code):
        done = subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120, check=False)
        where = f"README.md line {line}: {command}"
        assert done.returncode in (0, 1), (where, done.returncode, done.stderr[-2000:])
        for bad in ("Traceback", "Usage:", "Error:", "command not found"):
            assert bad not in done.stderr, (where, done.stderr[-2000:])
