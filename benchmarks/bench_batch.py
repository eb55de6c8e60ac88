"""Benchmark of `validator check` on generated contact files.

    python benchmarks/bench_batch.py                   # 1,000,000 rows, --jobs 2
    python benchmarks/bench_batch.py --rows 200000 --baseline-rows 5000 --no-mx

What it does, in one run:

1. generates ROWS realistic contacts (~5 % faulty, the domain mix of samples/make_samples.py)
   as CSV and as JSON Lines in a temporary folder (never in the repository);
2. times ``validator check`` with MX checks off on each file (wall time, rows/s, CPU seconds,
   peak memory of the parent and of the largest worker, sampled from /proc);
3. times the obvious alternative on the first BASELINE rows of the CSV — a loop that builds the
   payload and calls ``jsonschema`` and ``email_validator.validate_email`` per row — and
   extrapolates it to ROWS;
4. when tests/dns_server.py is present: serves its zone from a separate process, generates a
   file whose e-mail domains live in that zone, and times ``validator check`` with MX checks
   on against it, reporting how many DNS queries were asked per distinct domain.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "samples"))
sys.path.insert(0, str(REPO / "tests"))

from make_samples import HEADER, contact_rows  # type: ignore[import-not-found,unused-ignore]  # noqa: E402

CHECK = [sys.executable, "-m", "validator.cli", "check"]


def _check_command() -> list[str]:
    return [sys.executable, "-m", "validator", "check"]


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------
def _payload(row: list[str]) -> dict[str, Any]:
    """The JSON form of a generated CSV row (what a JSON Lines export would hold)."""
    cells = dict(zip(HEADER, row, strict=False))
    payload: dict[str, Any] = {}
    if cells.get("email"):
        payload["email"] = cells["email"]
    if cells.get("name"):
        payload["name"] = cells["name"]
    if cells.get("campaign.campaignId"):
        payload["campaign"] = {"campaignId": cells["campaign.campaignId"]}
    if cells.get("scoring"):
        text = cells["scoring"]
        payload["scoring"] = int(text) if text.isdigit() else text
    if cells.get("tags"):
        payload["tags"] = [{"tagId": t} for t in cells["tags"].split("|") if t]
    if cells.get("customFieldValues.kL6Nh"):
        payload["customFieldValues"] = [{"customFieldId": "kL6Nh",
                                         "value": [cells["customFieldValues.kL6Nh"]]}]
    if cells.get("ipAddress"):
        payload["ipAddress"] = cells["ipAddress"]
    if cells.get("dayOfCycle"):
        payload["dayOfCycle"] = cells["dayOfCycle"]
    return payload


def generate(folder: Path, rows: int, fault_rate: float, domains: list[str] | None = None,
             stem: str = "contacts") -> tuple[Path, Path]:
    csv_path = folder / f"{stem}.csv"
    jsonl_path = folder / f"{stem}.jsonl"
    with csv_path.open("w", newline="", encoding="utf-8") as c, \
            jsonl_path.open("w", encoding="utf-8") as j:
        writer = csv.writer(c, lineterminator="\n")
        writer.writerow(HEADER)
        for row, kind in contact_rows(rows, seed=7, fault_rate=fault_rate, companies=20_000,
                                      domains=domains):
            writer.writerow(row)
            if kind == "malformed-row":
                j.write(json.dumps(_payload(row))[:-1] + ",\n")
            else:
                j.write(json.dumps(_payload(row), ensure_ascii=False) + "\n")
    return csv_path, jsonl_path


# --------------------------------------------------------------------------------------------
# Measuring a run
# --------------------------------------------------------------------------------------------
def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                found.extend(int(p) for p in handle.read().split())
    except OSError:
        pass
    return found


def _cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rpartition(")")[2].split()
    except OSError:
        return 0.0
    # utime and stime: fields 14 and 15 of stat(5), counted after the ")" of the name.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _peak_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _pss_kib(pid: int) -> int:
    """Proportional set size: private pages plus a share of the pages a process shares with
    others (forked workers share their parent's), so the sum over processes counts each page
    once."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class _Sampler(threading.Thread):
    """Peak resident memory of a process and of its descendants, from /proc, while it runs."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.parent_kib = 0
        self.workers: dict[int, int] = {}
        # Workers are children of the forkserver, not of the process we wait for, so their CPU
        # time never reaches our RUSAGE_CHILDREN: it is read from /proc while they live.
        self.cpu: dict[int, float] = {}
        self.parent_cpu = 0.0
        self.pss_kib = 0
        """The largest sum of PSS over the process tree seen in one sample."""
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.parent_kib = max(self.parent_kib, _peak_kib(self.pid))
            self.parent_cpu = max(self.parent_cpu, _cpu_seconds(self.pid))
            pss = _pss_kib(self.pid)
            stack = _children(self.pid)
            while stack:
                child = stack.pop()
                self.workers[child] = max(self.workers.get(child, 0), _peak_kib(child))
                self.cpu[child] = max(self.cpu.get(child, 0.0), _cpu_seconds(child))
                pss += _pss_kib(child)
                stack.extend(_children(child))
            self.pss_kib = max(self.pss_kib, pss)
            time.sleep(0.1)


@dataclass
class Measured:
    label: str
    rows: int
    seconds: float
    cpu_seconds: float
    parent_cpu_seconds: float
    """CPU of the process that reads and writes (the rest is the workers')."""
    parent_mib: float
    worker_mib: float
    total_mib: float
    pss_mib: float
    """Peak of the summed PSS of all processes (sampled): the memory in use at once."""
    exit_code: int
    counts: dict[str, int]

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def time_check(label: str, source: Path, out: Path, extra: list[str]) -> Measured:
    report = out / f"{source.stem}.{label.replace(' ', '_')}.report.json"
    command = [*_check_command(), str(source), "--quiet", "--valid",
               str(out / f"valid{source.suffix}"), "--rejects", str(out / "rejects.jsonl"),
               "--report", str(report), *extra]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = subprocess.Popen(command)
    sampler = _Sampler(process.pid)
    sampler.start()
    code = process.wait()
    seconds = time.perf_counter() - started
    sampler.stop.set()
    sampler.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    cpu += sum(c for pid, c in sampler.cpu.items() if pid != process.pid)
    counts = json.loads(report.read_text())["rows"] if report.exists() else {}
    worker = max(sampler.workers.values(), default=0)
    return Measured(label, counts.get("read", 0), seconds, cpu, sampler.parent_cpu,
                    sampler.parent_kib / 1024,
                    worker / 1024, (sampler.parent_kib + sum(sampler.workers.values())) / 1024,
                    sampler.pss_kib / 1024, code, counts)


# --------------------------------------------------------------------------------------------
# The obvious alternative
# --------------------------------------------------------------------------------------------
def _baseline_rows(path: Path, limit: int) -> Iterator[dict[str, Any]]:
    with path.open(newline="", encoding="utf-8") as handle:
        for n, row in enumerate(csv.reader(handle)):
            if n == 0:
                continue
            if n > limit:
                return
            yield _payload(row)


def time_baseline(source: Path, rows: int) -> tuple[float, int, int]:
    """A per-row loop with jsonschema and email-validator: seconds per row, valid, invalid."""
    import email_validator
    from jsonschema import Draft202012Validator

    from validator import default_registry

    registry = default_registry()
    schema, _ = registry.get("contacts.create")
    checker = Draft202012Validator(schema, registry=registry.resources(),
                                   format_checker=Draft202012Validator.FORMAT_CHECKER)
    payloads = list(_baseline_rows(source, rows))
    valid = invalid = 0
    started = time.process_time()
    for payload in payloads:
        errors = list(checker.iter_errors(payload))
        email = payload.get("email")
        if isinstance(email, str):
            try:
                email_validator.validate_email(email, check_deliverability=False)
            except email_validator.EmailNotValidError as exc:
                errors.append(exc)
        if errors:
            invalid += 1
        else:
            valid += 1
    return (time.process_time() - started) / max(1, len(payloads)), valid, invalid


# --------------------------------------------------------------------------------------------
# MX on, against the local DNS server
# --------------------------------------------------------------------------------------------
class _DnsServer:
    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(REPO / "tests" / "dns_server.py")], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"the DNS server did not start: {line!r}")
        self.port = int(line.split()[1])

    def queries(self) -> int:
        """Queries answered so far, all types together."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("STATS\n")
        self.process.stdin.flush()
        fields = (item.split("=", 1) for item in self.process.stdout.readline().split()[1:])
        # Query types are upper case (MX=…, A=…); other fields (cpu=…) are not counts.
        return sum(int(v) for k, v in fields if k.isupper())

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=10)


def _print(measured: Measured) -> None:
    print(f"  {measured.label:<28} {measured.rows:>9,} rows  {measured.seconds:7.1f} s  "
          f"{measured.rate:>9,.0f} rows/s  cpu {measured.cpu_seconds:6.1f} s "
          f"(parent {measured.parent_cpu_seconds:4.1f} s)  "
          f"peak parent {measured.parent_mib:5.0f} MiB, worker {measured.worker_mib:5.0f} MiB, "
          f"all {measured.total_mib:5.0f} MiB (sum of peak RSS; PSS at once "
          f"{measured.pss_mib:4.0f} MiB)  exit {measured.exit_code}  {measured.counts}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--fault-rate", type=float, default=0.05)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--baseline-rows", type=int, default=20_000)
    parser.add_argument("--mx-domains", type=int, default=5_000)
    parser.add_argument("--no-mx", action="store_true", help="Skip the MX-on run.")
    parser.add_argument("--keep", action="store_true", help="Keep the generated files.")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="bench_batch_"))
    out = folder / "out"
    out.mkdir()
    try:
        print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; "
              f"python {sys.version.split()[0]}; files in {folder}")
        started = time.perf_counter()
        csv_path, jsonl_path = generate(folder, args.rows, args.fault_rate)
        print(f"generated {args.rows:,} rows in {time.perf_counter() - started:.1f} s: "
              f"CSV {csv_path.stat().st_size / 2**20:.0f} MiB, "
              f"JSONL {jsonl_path.stat().st_size / 2**20:.0f} MiB")
        jobs = ["--jobs", str(args.jobs)]
        print(f"validator check, MX off, --jobs {args.jobs}:")
        for path in (csv_path, jsonl_path):
            _print(time_check(f"{path.suffix[1:]} mx-off", path, out,
                              ["--no-check-mx", *jobs]))

        per_row, valid, invalid = time_baseline(csv_path, args.baseline_rows)
        print(f"loop of jsonschema + email-validator per row, on the first "
              f"{args.baseline_rows:,} rows ({valid:,} valid, {invalid:,} invalid), one core:")
        print(f"  {1 / per_row:>9,.0f} rows/s (CPU time) → {args.rows:,} rows in "
              f"{per_row * args.rows:,.0f} s, extrapolated")

        if args.no_mx or not (REPO / "tests" / "dns_server.py").exists():
            print("MX on: skipped" + ("" if args.no_mx else " (tests/dns_server.py missing)"))
            return
        from dns_server import bench_domains  # type: ignore[import-not-found,unused-ignore]

        domains = bench_domains(args.mx_domains)
        mx_csv, _ = generate(folder, args.rows, args.fault_rate, domains=domains, stem="mx")
        server = _DnsServer()
        try:
            cache = folder / "dns-cache.sqlite"
            print(f"validator check, MX on against the local DNS server (127.0.0.1:"
                  f"{server.port}), {args.mx_domains:,} distinct zone domains at most:")
            dns = ["--dns-server", f"127.0.0.1:{server.port}", "--dns-cache", str(cache)]
            for label in ("csv mx-on, cold cache", "csv mx-on, warm cache"):
                before = server.queries()
                measured = time_check(label, mx_csv, out, [*dns, *jobs])
                asked = server.queries() - before
                _print(measured)
                report = json.loads(
                    (out / f"{mx_csv.stem}.{label.replace(' ', '_')}.report.json").read_text())
                looked_up = report["dns"]["domainsLookedUp"]
                print(f"  DNS: {looked_up:,} distinct domains in the run, {asked:,} queries "
                      f"reached the server ({asked / max(1, looked_up):.2f} per domain)")
        finally:
            server.close()
    finally:
        if args.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
