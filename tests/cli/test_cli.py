"""The `validator` command, run as a user runs it: a subprocess on real files and stdin."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "validator.cli", *args], input=stdin,
                          capture_output=True, timeout=60, check=False,
                          text=stdin is None)


def test_valid_file_prints_nothing_and_exits_0() -> None:
    done = run("validate", "--schema", "contacts.create", str(SAMPLES / "contact.json"))
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_invalid_file_prints_the_body_and_exits_1() -> None:
    done = run("validate", "--schema", "contacts.create", str(SAMPLES / "contact-invalid.json"))
    assert done.returncode == 1
    body = json.loads(done.stdout)
    assert body["code"] == 1000 and len(body["context"]) == 6


def test_stdin_and_always_combine() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "validator.cli", "validate", "--schema", "contacts.create",
         "--always-combine", "-"],
        input=b'{"email": "a@example.com"}', capture_output=True, timeout=60, check=False)
    assert done.returncode == 1
    assert json.loads(done.stdout)["code"] == 1000


def test_malformed_json_is_a_1000_body_not_a_traceback() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "validator.cli", "validate", "--schema", "contacts.create"],
        input=b"{oops", capture_output=True, timeout=60, check=False)
    assert done.returncode == 1
    assert json.loads(done.stdout)["code"] == 1000
    assert b"Traceback" not in done.stderr


def test_usage_errors_exit_2() -> None:
    unknown = run("validate", "--schema", "nope", str(SAMPLES / "contact.json"))
    assert unknown.returncode == 2
    assert "known schemas: " in unknown.stderr and "contacts.create" in unknown.stderr
    missing = run("validate", "--schema", "contacts.create", "/no/such/file.json")
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    assert "Traceback" not in missing.stderr
    assert run("validate").returncode == 2
    bad_dns = run("validate", "--schema", "contacts.create", "--check-mx", "--dns-server",
                  "127.0.0.1:notaport", str(SAMPLES / "contact.json"))
    assert bad_dns.returncode == 2


def test_schemas_and_codes() -> None:
    listed = run("schemas")
    assert listed.returncode == 0
    assert "contacts.create" in listed.stdout and "_common" not in listed.stdout
    codes = run("codes")
    assert "1005  400  Parameter has empty value" in codes.stdout
    catalog = json.loads(run("codes", "--json").stdout)
    assert {"code": 1015, "httpStatus": 429} .items() <= next(
        c for c in catalog if c["code"] == 1015).items()


def test_user_schema_folder(tmp_path: Path) -> None:
    (tmp_path / "orders.create.json").write_text(json.dumps(
        {"type": "object", "required": ["sku"]}))
    payload = tmp_path / "order.json"
    payload.write_text("{}")
    done = run("validate", "--schemas", str(tmp_path), "--schema", "orders.create",
               str(payload))
    assert done.returncode == 1
    assert json.loads(done.stdout)["context"][0]["fieldName"] == ["sku"]
