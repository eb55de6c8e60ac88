"""Benchmark of `validator check --dask` against local runs, and the driver's memory a key.

    python benchmarks/bench_dask.py                  # 200,000 rows, 2 rounds
    python benchmarks/bench_dask.py --rows 50000 --rounds 1

What it does, in one run:

1. generates ROWS realistic contacts (~5 % faulty, the generator of samples/make_samples.py) as
   CSV, and the same rows as Parquet, in a temporary folder;
2. times ``validator check`` (MX off) on them: local with 1 and 2 worker processes, and on a
   Dask ``LocalCluster`` (``--dask local``) of 1 and 2 workers; the cases take turns, round
   after round, so that a change of load hits them alike. Reported: rows/s of the run without
   the cluster's start (``timings.engineStart`` of the report), the start itself, and each
   case against local ``--jobs 2``;
3. checks that every case wrote the same valid output and the same counts;
4. measures what the driver keeps for the 1008 check: bytes per row and per distinct key of
   ``FirstRows`` (tracemalloc, KEYS distinct keys).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from array import array
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "samples"))

from make_samples import HEADER, contact_rows  # type: ignore[import-not-found,unused-ignore]  # noqa: E402

CHECK = [sys.executable, "-m", "validator", "check"]


def generate(folder: Path, rows: int) -> tuple[Path, Path]:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    path = folder / "contacts.csv"
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(HEADER)
        for row, kind in contact_rows(rows, seed=7, fault_rate=0.05, companies=20_000):
            if kind != "malformed-row":  # (Parquet has no malformed rows to mirror them)
                writer.writerow(row)
    text = pacsv.ConvertOptions(column_types=dict.fromkeys(HEADER, "string"),
                                strings_can_be_null=True)
    parquet = folder / "contacts.parquet"
    pq.write_table(pacsv.read_csv(path, convert_options=text), parquet)
    return path, parquet


def run_case(source: Path, args: list[str], out: Path) -> tuple[float, float, float, dict, str]:
    report, valid = out / "r.json", out / f"ok{source.suffix}"
    began = time.perf_counter()
    done = subprocess.run([*CHECK, str(source), "--no-check-mx", "-q", "--report", str(report),
                           "--valid", str(valid), *args], capture_output=True, check=False)
    wall = time.perf_counter() - began
    if done.returncode not in (0, 1):
        raise SystemExit(f"{args}: exit {done.returncode}: {done.stderr.decode()}")
    data = json.loads(report.read_text())
    timings = data["timings"]
    start = timings.get("engineStart", 0.0)
    digest = hashlib.blake2b(valid.read_bytes(), digest_size=8).hexdigest()
    return wall, timings["total"] - start, start, data["rows"], digest


def key_memory(keys: int, block: int = 2000) -> tuple[float, float]:
    """Bytes the driver's ``FirstRows`` holds a row (every row of a block, as 16 bytes of
    arrays) and a distinct key (its dict entry), for ``keys`` distinct keys."""
    from validator.batch._dedupe import FirstRows

    rng = random.Random(1)
    first = FirstRows()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for start in range(0, keys, block):
        n = min(block, keys - start)
        first.repeats(0, array("Q", (rng.getrandbits(64) for _ in range(n))),
                      array("Q", range(start, start + n)))
    total = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    arrays = sum(k.itemsize * len(k) + n.itemsize * len(n) for _, k, n in first.blocks)
    return arrays / keys, (total - arrays) / keys


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--keys", type=int, default=1_000_000)
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    cases = [
        ("csv, local --jobs 1", "csv", ["-j", "1"]),
        ("csv, local --jobs 2", "csv", ["-j", "2"]),
        ("csv, --dask local, 1 worker", "csv", ["--dask", "local", "-j", "1"]),
        ("csv, --dask local, 2 workers", "csv", ["--dask", "local", "-j", "2"]),
        ("parquet, local --jobs 2", "parquet", ["-j", "2"]),
        ("parquet, --dask local, 2 workers", "parquet", ["--dask", "local", "-j", "2"]),
    ]
    with tempfile.TemporaryDirectory(prefix="bench-dask-") as folder:
        out = Path(folder)
        sources = dict(zip(("csv", "parquet"), generate(out, args.rows), strict=True))
        results: dict[str, list[tuple[float, float, float]]] = {name: [] for name, _, _ in cases}
        outcome: dict[str, set[tuple[str, str]]] = {"csv": set(), "parquet": set()}
        for _ in range(args.rounds):
            for name, kind, extra in cases:
                wall, run_time, start, rows, digest = run_case(sources[kind], extra, out)
                results[name].append((wall, run_time, start))
                outcome[kind].add((json.dumps(rows, sort_keys=True), digest))
        print(f"{rows['read']:,} rows a file; {args.rounds} rounds; MX off\n")
        base = statistics.median(r[1] for r in results["csv, local --jobs 2"])
        print(f"{'case':36} {'rows/s':>9} {'spread':>7} {'start s':>8} {'wall s':>7} "
              f"{'vs local -j2':>13}")
        for name, _, _ in cases:
            times = [r[1] for r in results[name]]
            median = statistics.median(times)
            spread = (max(times) - min(times)) / median if median else 0.0
            print(f"{name:36} {rows['read'] / median:>9,.0f} {spread:>6.0%} "
                  f"{statistics.median(r[2] for r in results[name]):>8.2f} "
                  f"{statistics.median(r[0] for r in results[name]):>7.2f} "
                  f"{base / median:>12.2f}x")
        for kind, seen in outcome.items():
            same = "the same outputs in every case" if len(seen) == 1 else "OUTPUTS DIFFER"
            print(f"{kind}: {same}")
    per_row, per_key = key_memory(args.keys)
    print(f"\n1008 in the driver ({args.keys:,} distinct keys): {per_row:.1f} bytes a row, "
          f"{per_key:.1f} bytes a distinct key")


if __name__ == "__main__":
    main()
