"""Benchmark of `validator check` on generated contact files.

    python benchmarks/bench_batch.py            # 1M and 5M rows, 5 % and 20 % faulty, --jobs 2
    python benchmarks/bench_batch.py --quick    # 200,000 rows, 5 % faulty, one round

What it does, in one run:

1. for each size (--rows) and fault rate (--fault-rates) generates realistic contacts (the
   faults and domain mix of samples/make_samples.py) as CSV and as JSON Lines in a temporary
   folder (never in the repository);
2. times ``validator check --no-check-mx`` on them, the cases taking turns in each round: the
   CSV and the JSON Lines file the default (columnar) way, the same files with ``--row-path``
   (the reference; only up to --row-path-max rows); and a bare ``csv.reader`` loop over the same
   CSV, the floor. For each: median rows/s with the spread of the rounds, CPU µs per row (all
   processes), a quiet-host estimate from the CPU times, peak memory of the process tree
   (sum of peak RSS, and the largest sum of PSS seen at once), and ratios;
3. times the obvious alternative — a loop that builds the payload and calls ``jsonschema`` and
   ``email_validator.validate_email`` per row — on BASELINE rows;
4. when tests/dns_server.py is present: serves its zone from a separate process, generates a
   file whose e-mail domains live in that zone, and times MX-on runs against it.
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


def _files(data: Path | None, folder: Path, rows: int, fault_rate: float,
           domains: list[str] | None, stem: str) -> tuple[Path, Path]:
    """The CSV and JSON Lines files of ``stem``: generated in ``folder``, or kept in (and
    reused from) ``data``."""
    if data is None:
        return generate(folder, rows, fault_rate, domains, stem)
    kept = data / f"{stem}.csv", data / f"{stem}.jsonl"
    if not all(path.exists() for path in kept):
        data.mkdir(parents=True, exist_ok=True)
        # Made elsewhere and moved in whole: an interrupted run leaves no half file to reuse.
        for made, path in zip(generate(folder, rows, fault_rate, domains, stem), kept,
                              strict=True):
            shutil.move(made, path)
    return kept


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


def _become_subreaper() -> bool:
    """Make this process the reaper of its orphaned descendants (Linux). The forkserver and
    its workers outlive the run's own process for a moment and are reaped by no one of the
    run; re-parented here, they are reaped by ``_reap``, and the CPU time of every process of
    the run reaches RUSAGE_CHILDREN exactly: not sampled from /proc (which misses the last
    tenth of a second of each process), nor counted twice (where a parent reaps its own)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(36, 1, 0, 0, 0) == 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


SUBREAPER = sys.platform.startswith("linux") and _become_subreaper()


def _reap(pids: set[int], timeout: float = 60.0) -> None:
    """Wait for the orphans among ``pids`` (those that were not reaped by their parent)."""
    deadline = time.monotonic() + timeout
    left = set(pids)
    while left and time.monotonic() < deadline:
        for pid in list(left):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:  # not ours: its own parent reaped it, or will
                done = pid
            if done:
                left.discard(pid)
        if left:
            time.sleep(0.05)


class _Sampler(threading.Thread):
    """Peak resident memory of a process and of its descendants, from /proc, while it runs."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.parent_kib = 0
        self.workers: dict[int, int] = {}
        # Workers are children of the forkserver, not of the process we wait for: without a
        # subreaper their CPU time never reaches our RUSAGE_CHILDREN and is read from /proc
        # while they live.
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
    if SUBREAPER:
        _reap(set(sampler.cpu) - {process.pid})
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if not SUBREAPER:
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


def time_csv_reader(source: Path) -> tuple[float, float, int]:
    """The floor: a bare csv.reader loop over the file (wall and CPU seconds, rows)."""
    started, cpu = time.perf_counter(), time.process_time()
    rows = 0
    with source.open(newline="", encoding="utf-8") as handle:
        for _ in csv.reader(handle):
            rows += 1
    return time.perf_counter() - started, time.process_time() - cpu, rows - 1


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def _spread(values: list[float]) -> float:
    middle = _median(values)
    return (max(values) - min(values)) / middle if middle else 0.0


@dataclass
class Case:
    label: str
    source: Path
    extra: list[str]
    runs: list[Measured]


def _summary(case: Case, jobs: int, floor: float | None) -> None:
    rates = [m.rate for m in case.runs]
    cpu = [m.cpu_seconds / max(1, m.rows) * 1e6 for m in case.runs]
    parent = [m.parent_cpu_seconds / max(1, m.rows) * 1e6 for m in case.runs]
    last = case.runs[-1]
    # What the run would take with its CPU alone on `jobs` idle cores: the work spread over
    # the workers, or the reading process's share, whichever is longer.
    quiet = [m.rows / max(m.cpu_seconds / jobs, m.parent_cpu_seconds, 1e-9) for m in case.runs]
    text = (f"  {case.label:<34} {_median(rates):>9,.0f} rows/s (spread {_spread(rates):4.0%})"
            f"  CPU {_median(cpu):6.2f} us/row (reading process {_median(parent):5.2f})"
            f"  quiet-host estimate {_median(quiet):>9,.0f} "
            f"rows/s  peak RSS sum {max(m.total_mib for m in case.runs):5.0f} MiB, PSS "
            f"{max(m.pss_mib for m in case.runs):4.0f} MiB")
    if floor:
        text += f"  {_median(rates) / floor:4.2f}x csv.reader"
    print(text + f"  exit {last.exit_code} {last.counts}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1000000,5000000",
                        help="comma-separated file sizes (default: 1M and 5M rows)")
    parser.add_argument("--fault-rates", default="0.05,0.2")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2,
                        help="rounds; the cases take turns in each (interleaved)")
    parser.add_argument("--row-path-max", type=int, default=1_000_000,
                        help="time the row path only on files of at most this many rows")
    parser.add_argument("--baseline-rows", type=int, default=20_000)
    parser.add_argument("--mx-domains", type=int, default=5_000)
    parser.add_argument("--no-mx", action="store_true", help="Skip the MX-on runs.")
    parser.add_argument("--quick", action="store_true",
                        help="200,000 rows, 5 %% faulty, one round, MX on 200,000 rows too")
    parser.add_argument("--keep", action="store_true", help="Keep the generated files.")
    parser.add_argument("--data", type=Path, default=None,
                        help="keep the generated files in this folder and reuse them in later "
                             "runs (5M rows take minutes to generate)")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.fault_rates, args.repeats = "200000", "0.05", 1
    sizes = [int(n) for n in args.rows.split(",")]
    rates = [float(r) for r in args.fault_rates.split(",")]

    folder = Path(tempfile.mkdtemp(prefix="bench_batch_"))
    out = folder / "out"
    out.mkdir()
    jobs = ["--jobs", str(args.jobs)]
    try:
        print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; "
              f"python {sys.version.split()[0]}; files in {folder}")
        for size in sizes:
            for fault_rate in rates:
                started = time.perf_counter()
                stem = f"contacts-{size}-{fault_rate}"
                csv_path, jsonl_path = _files(args.data, folder, size, fault_rate, None, stem)
                print(f"\n{size:,} rows, {fault_rate:.0%} faulty (generated in "
                      f"{time.perf_counter() - started:.0f} s: CSV "
                      f"{csv_path.stat().st_size / 2**20:.0f} MiB, JSONL "
                      f"{jsonl_path.stat().st_size / 2**20:.0f} MiB), MX off, --jobs "
                      f"{args.jobs}, {args.repeats} interleaved round(s):")
                cases = [Case("csv, columnar (default)", csv_path, ["--no-check-mx", *jobs], []),
                         Case("jsonl, columnar (default)", jsonl_path,
                              ["--no-check-mx", *jobs], [])]
                if size <= args.row_path_max:
                    cases += [Case("csv, --row-path", csv_path,
                                   ["--no-check-mx", "--row-path", *jobs], []),
                              Case("jsonl, --row-path", jsonl_path,
                                   ["--no-check-mx", "--row-path", *jobs], [])]
                floors: list[float] = []
                floor_cpu: list[float] = []
                for _ in range(args.repeats):
                    for case in cases:
                        case.runs.append(time_check(case.label, case.source, out, case.extra))
                    wall, cpu, rows = time_csv_reader(csv_path)
                    floors.append(rows / wall)
                    floor_cpu.append(cpu / rows * 1e6)
                floor = _median(floors)
                print(f"  {'bare csv.reader loop':<34} {floor:>9,.0f} rows/s (spread "
                      f"{_spread(floors):4.0%})  CPU {_median(floor_cpu):6.2f} us/row")
                for case in cases:
                    _summary(case, args.jobs, floor if case.source == csv_path else None)
                if len(cases) == 4:
                    for kind, columnar_case, row_case in (("csv", cases[0], cases[2]),
                                                          ("jsonl", cases[1], cases[3])):
                        ratio = _median([m.rate for m in columnar_case.runs]) / \
                            _median([m.rate for m in row_case.runs])
                        print(f"  {kind} columnar / row path: {ratio:4.2f}x")
                if args.data is None:
                    for path in (csv_path, jsonl_path):
                        path.unlink()

        per_row, valid, invalid = time_baseline_file(folder, args.baseline_rows)
        print(f"\nloop of jsonschema + email-validator per row, on {args.baseline_rows:,} "
              f"rows ({valid:,} valid, {invalid:,} invalid), one core: {1 / per_row:>9,.0f} "
              "rows/s (CPU time)")

        if args.no_mx or not (REPO / "tests" / "dns_server.py").exists():
            print("MX on: skipped" + ("" if args.no_mx else " (tests/dns_server.py missing)"))
            return
        from dns_server import bench_domains  # type: ignore[import-not-found,unused-ignore]

        domains = bench_domains(args.mx_domains)
        size = sizes[0]
        mx_csv, mx_jsonl = _files(args.data, folder, size, rates[0], domains,
                                  f"mx-{size}-{rates[0]}-{args.mx_domains}")
        server = _DnsServer()
        try:
            print(f"\nMX on against the local DNS server (127.0.0.1:{server.port}), {size:,} "
                  f"rows, {rates[0]:.0%} faulty, at most {args.mx_domains:,} distinct domains:")
            for label, path, more in (
                    ("csv, columnar, cold cache", mx_csv, []),
                    ("csv, columnar, warm cache", mx_csv, []),
                    ("csv, --row-path, warm cache", mx_csv, ["--row-path"]),
                    ("jsonl, columnar, warm cache", mx_jsonl, []),
                    ("jsonl, --row-path, warm cache", mx_jsonl, ["--row-path"])):
                cache = folder / "dns-cache.sqlite"
                dns = ["--dns-server", f"127.0.0.1:{server.port}", "--dns-cache", str(cache)]
                before = server.queries()
                case = Case(label, path, [*dns, *jobs, *more], [])
                case.runs.append(time_check(label, path, out, case.extra))
                asked = server.queries() - before
                _summary(case, args.jobs, None)
                report = json.loads(
                    (out / f"{path.stem}.{label.replace(' ', '_')}.report.json").read_text())
                looked_up = report["dns"]["domainsLookedUp"]
                print(f"    DNS: {looked_up:,} distinct domains in the run, {asked:,} queries "
                      f"reached the server")
        finally:
            server.close()
    finally:
        if args.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


def time_baseline_file(folder: Path, rows: int) -> tuple[float, int, int]:
    csv_path, jsonl_path = generate(folder, rows, 0.05, stem="baseline")
    jsonl_path.unlink()
    return time_baseline(csv_path, rows)


if __name__ == "__main__":
    main()
