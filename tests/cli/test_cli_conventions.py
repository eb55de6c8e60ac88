"""The command's manners: stdout as `-`, JSON for scripts, `python -m`, shell completion, and
one table of defaults per command shared by `--help` and the README."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from validator.cli._check import check
from validator.cli._options import option_defaults
from validator.cli._serve import serve
from validator.cli._validate import validate

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "samples" / "contacts.csv"


def run(*args: str | Path, cwd: Path | None = None,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "validator", *map(str, args)],
                          capture_output=True, text=True, timeout=120, check=False, cwd=cwd,
                          env=env)


def test_dash_writes_an_output_to_stdout_and_no_file_named_dash(tmp_path: Path) -> None:
    result = run("check", SAMPLE, "--no-check-mx", "-j", "1", "-q", "--rejects", "-",
                 "--report", "r.json", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    rejects = [json.loads(line) for line in result.stdout.splitlines()]
    report = json.loads((tmp_path / "r.json").read_text())
    assert len(rejects) == report["rows"]["invalid"] == 71
    assert {r["error"]["code"] for r in rejects} >= {1003, 1006, 1008}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]
    assert report["outputs"]["rejects"] == "-"

    valid = run("check", SAMPLE, "--no-check-mx", "-j", "1", "-q", "--valid", "-", cwd=tmp_path)
    lines = valid.stdout.splitlines()
    assert lines[0].startswith("email,") and len(lines) == 1 + 329

    report_out = run("check", SAMPLE, "--no-check-mx", "-j", "1", "-q", "--report", "-",
                     cwd=tmp_path)
    assert json.loads(report_out.stdout)["rows"]["valid"] == 329


def test_summary_json_is_one_line_of_stdout_for_scripts(tmp_path: Path) -> None:
    result = run("check", SAMPLE, "--no-check-mx", "-j", "1", "--summary", "json",
                 "--report", tmp_path / "r.json")
    assert result.returncode == 1
    (line,) = result.stdout.splitlines()
    summary = json.loads(line)
    assert summary["rows"] == {"read": 400, "valid": 329, "invalid": 71, "unverified": 0}
    assert summary["exitCode"] == 1
    assert summary["byCode"] == json.loads((tmp_path / "r.json").read_text())["byCode"]
    assert "rows read" not in result.stderr  # no tables beside it


def test_stdout_takes_one_output(tmp_path: Path) -> None:
    for args in (("--rejects", "-", "--valid", "-"), ("--report", "-", "--summary", "json")):
        result = run("check", SAMPLE, "--no-check-mx", *args, cwd=tmp_path)
        assert result.returncode == 2
        assert "can write to stdout (-)" in result.stderr
        assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_schemas_json() -> None:
    result = run("schemas", "--json")
    assert result.returncode == 0
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["contacts.create"] == {"name": "contacts.create",
                                       "title": "Create a new contact: POST /contacts",
                                       "route": "POST /contacts", "validationType": "body"}
    assert rows["contacts.list.query"]["validationType"] == "query"
    assert len(rows) == len(run("schemas").stdout.splitlines())


def test_python_dash_m_validator_is_the_command() -> None:
    result = run("--help")
    assert result.returncode == 0 and "check" in result.stdout and "serve" in result.stdout


def test_bash_completion_script_completes_subcommands() -> None:
    exe = shutil.which("validator", path=os.path.dirname(sys.executable))
    assert exe is not None
    env = {**os.environ, "_VALIDATOR_COMPLETE": "bash_source"}
    script = subprocess.run([exe], capture_output=True, text=True, env=env, check=True,
                            timeout=60).stdout
    assert "complete -o nosort -F _validator_completion validator" in script
    # What the script asks the command for when the user types `validator ch<TAB>`:
    env = {**os.environ, "_VALIDATOR_COMPLETE": "bash_complete", "COMP_WORDS": "validator ch",
           "COMP_CWORD": "1"}
    done = subprocess.run([exe], capture_output=True, text=True, env=env, check=True,
                          timeout=60).stdout
    assert "plain,check" in done.splitlines()


def _readme_table(command: str) -> list[tuple[str, str]]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split(f"`validator {command}`:\n\n", 1)[1].split("\n\n", 1)[0]
    rows = []
    for line in section.splitlines()[2:]:
        option, value = re.fullmatch(r"\| `(.+?)` \| (.*) \|", line).groups()  # type: ignore[union-attr]
        rows.append((option, value.replace("\\|", "|")))
    return rows


@pytest.mark.parametrize("command", [check, validate, serve], ids=lambda c: c.name)
def test_one_table_of_defaults_in_help_and_readme(command: object) -> None:
    import click

    assert isinstance(command, click.Command)
    rows = option_defaults(command)
    assert _readme_table(str(command.name)) == rows
    help_text = run(str(command.name), "--help").stdout
    table = help_text.split("Defaults:\n", 1)[1]
    for option, value in rows:
        assert re.search(rf"^ +{re.escape(option)} +{re.escape(value)}$", table, re.M), option
    mx = dict(rows)["--check-mx"]
    assert mx == ("on" if command.name == "check" else "off")
    assert "off in validate and serve" in " ".join(help_text.split())
