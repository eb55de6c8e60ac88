"""`validator check --dask`: the same outputs as a local run, on a real cluster.

One `LocalCluster` of 2 worker processes serves the module (the command connects to its
scheduler); one test starts `--dask local` itself, one runs `dask scheduler` and `dask worker`
as processes of their own."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dns_server import BlackHole, ZoneServer
from loadgen import free_port
from test_batch import CHECK, _big_csv, _tricky_csv, contact, jsonl, report
from test_parquet import _contacts, run

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0", silence_logs=40) as local, \
            distributed.Client(local) as client:
        client.wait_for_workers(2, timeout=60)
        yield local


def _without_uuid(path: Path) -> list[dict[str, Any]]:
    entries = jsonl(path)
    for entry in entries:
        entry["error"].pop("uuid")
    return entries


def _outputs(tmp_path: Path, tag: str, sources: list[Path], *args: str,
             env: dict[str, str] | None = None, code: int = 1,
             subprocess_: bool = False) -> dict[str, Any]:
    """The outputs of one run (in this process unless ``subprocess_``)."""
    ok = tmp_path / f"ok-{tag}{sources[0].suffix}"
    bad, unv, rep = (tmp_path / f"{name}-{tag}.json" for name in ("bad", "unv", "r"))
    arguments = [*map(str, sources), "--valid", str(ok), "--rejects", str(bad),
                 "--unverified", str(unv), "--report", str(rep), *args]
    if subprocess_:
        result: Any = subprocess.run([*CHECK, *arguments], capture_output=True, timeout=120,
                                     check=False, env={**os.environ, **(env or {})})
    else:
        result = run(*arguments, env=env)
    assert result.returncode == code, result.stderr
    data = report(rep)
    return {"valid": ok.read_bytes(), "rejects": _without_uuid(bad),
            "unverified": _without_uuid(unv), "stderr": result.stderr,
            **{k: data[k] for k in ("rows", "byCode", "byField", "byDomain", "topReasons",
                                    "files", "dns")}}


def _same(local: dict[str, Any], dask: dict[str, Any]) -> None:
    for key in local:
        if key != "stderr":
            assert dask[key] == local[key], key


def test_outputs_match_a_local_run_across_partitions_and_files(
        tmp_path: Path, cluster: Any) -> None:
    tricky = tmp_path / "tricky.csv"
    tricky.write_bytes(_tricky_csv())
    again = tmp_path / "again.csv"  # repeats of the first file's rows: 1008 across files
    again.write_bytes(_tricky_csv().replace(b"u98@", b"new98@"))
    sources = [tricky, again]
    local = _outputs(tmp_path, "local", sources, "--no-check-mx", "-j", "1")
    assert local["byCode"]["1008"] > 40
    # Blocks of 200 bytes: a partition holds a few rows, the repeats are in other partitions.
    dask = _outputs(tmp_path, "dask", sources, "--no-check-mx", "--dask", cluster.scheduler_address,
                    env={"VALIDATOR_BLOCK_BYTES": "200"})
    _same(local, dask)
    assert b"dashboard http://" in dask["stderr"]
    assert b"2 workers" in dask["stderr"]
    # Parquet: a block is one Arrow record batch (3 rows here); its repeat is in another one.
    import pyarrow.parquet as pq

    parquet = tmp_path / "contacts.parquet"
    pq.write_table(_contacts(40), parquet, row_group_size=16)
    local = _outputs(tmp_path, "plocal", [parquet], "--no-check-mx", "-j", "1")
    dask = _outputs(tmp_path, "pdask", [parquet], "--no-check-mx", "--chunk-size", "3",
                    "--dask", cluster.scheduler_address)
    _same(local, dask)
    assert local["byCode"] == {"1003": 1, "1008": 1}


def test_mx_domains_resolved_once_for_all_partitions(
        tmp_path: Path, cluster: Any, dnslib_server: ZoneServer) -> None:
    domains = ["mx", "null-mx", "servfail", "a-only"]
    source = tmp_path / "mx.jsonl"
    source.write_text("".join(
        json.dumps({"email": f"u{i}@{domains[i % 4]}.dnstest.example",
                    "campaign": {"campaignId": "pV3r"}}) + "\n" for i in range(40)))
    # (A long timeout: a loaded host must not turn an answer into an outage.)
    dns = ("--dns-server", f"127.0.0.1:{dnslib_server.port}", "--dns-timeout", "10")
    local = _outputs(tmp_path, "local", [source], *dns, "-j", "1")
    dask = _outputs(tmp_path, "dask", [source], *dns, "--chunk-size", "3", "--dask",
                    cluster.scheduler_address)
    _same(local, dask)
    assert dask["rows"] == {"read": 40, "valid": 20, "invalid": 10, "unverified": 10}
    # Each distinct domain once for the run, though 14 partitions held them.
    assert dask["dns"]["domainsLookedUp"] == 4


def test_dns_outage_is_unverified_and_said_once(tmp_path: Path, cluster: Any,
                                                black_hole: BlackHole) -> None:
    source = tmp_path / "o.jsonl"
    source.write_text("".join(
        json.dumps({"email": f"u{i}@d{i % 3}.dnstest.example",
                    "campaign": {"campaignId": "pV3r"}}) + "\n" for i in range(30)))
    result = run(source, "--dns-server", f"127.0.0.1:{black_hole.port}", "--dns-timeout",
                 "0.3", "--chunk-size", "4", "--dask", cluster.scheduler_address,
                 "--unverified", tmp_path / "unv.jsonl")
    assert result.returncode == 0, result.stderr
    assert len(jsonl(tmp_path / "unv.jsonl")) == 30
    assert result.stderr.count(b"could not be checked") == 1


class _Paced(distributed.WorkerPlugin):  # type: ignore[misc]
    """Each task starts 20 ms late, so that a run lasts long enough, on any machine, for a
    worker to be killed (or the run stopped) while blocks are on the cluster."""

    def transition(self, key: Any, start: str, finish: str, **kwargs: Any) -> None:
        if finish == "executing":
            time.sleep(0.02)


@pytest.fixture
def paced(cluster: Any) -> Iterator[None]:
    import cloudpickle

    # The workers cannot import this test module: the plugin travels by value.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    with distributed.Client(cluster.scheduler_address) as client:
        client.register_plugin(_Paced(), name="paced")
        try:
            yield
        finally:
            client.unregister_worker_plugin("paced")
            cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def _workers(cluster: Any) -> dict[str, int]:
    with distributed.Client(cluster.scheduler_address) as client:
        pids: dict[str, int] = client.run(os.getpid)
    return pids


def _task_at_work(dask_scheduler: Any) -> str | None:
    """(On the scheduler.) The worker running one of the run's block tasks, if any."""
    for task in dask_scheduler.tasks.values():
        if (task.state == "processing" and str(task.key).startswith("dask_check")
                and task.processing_on is not None):
            return str(task.processing_on.address)
    return None


def _busy_worker(cluster: Any, process: subprocess.Popen[bytes]) -> str:
    """Wait until a worker is running one of the run's block tasks, and name it: what is
    done to it (or to the run) then happens mid-run, whatever the machine's speed."""
    with distributed.Client(cluster.scheduler_address) as client:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert process.poll() is None, "the run ended before any task was seen at work"
            found: str | None = client.run_on_scheduler(_task_at_work)
            if found is not None:
                return found
            time.sleep(0.01)
    pytest.fail("no block task was ever at work")


def test_a_worker_killed_mid_run_loses_and_doubles_no_row(tmp_path: Path, cluster: Any,
                                                          paced: None) -> None:
    source = tmp_path / "big.csv"
    _big_csv(source, 8_000)
    local = _outputs(tmp_path, "local", [source], "--no-check-mx", "-j", "1")
    before = _workers(cluster)
    ok, bad, rep = tmp_path / "ok.csv", tmp_path / "bad.jsonl", tmp_path / "r.json"
    process = subprocess.Popen(
        [*CHECK, str(source), "--no-check-mx", "--chunk-size", "80", "--dask",
         cluster.scheduler_address, "--valid", str(ok), "--rejects", str(bad), "--report",
         str(rep), "-q"], stderr=subprocess.PIPE)
    # The worker killed is one running a block of the run: that task is lost with it.
    victim = before[_busy_worker(cluster, process)]
    os.kill(victim, signal.SIGKILL)
    assert process.poll() is None, "the run ended before a worker could be killed"
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 1, stderr
    assert ok.read_bytes() == local["valid"]
    assert _without_uuid(bad) == local["rejects"]
    assert report(rep)["rows"] == local["rows"]
    # The worker was really lost (its nanny starts a new one, under another pid).
    with distributed.Client(cluster.scheduler_address) as client:
        client.wait_for_workers(2, timeout=60)
    assert victim not in _workers(cluster).values()


def test_interrupted_run_and_unreachable_scheduler_leave_no_output(
        tmp_path: Path, cluster: Any, paced: None) -> None:
    source = tmp_path / "big.csv"
    _big_csv(source, 8_000)
    finals = [tmp_path / "ok.csv", tmp_path / "bad.jsonl", tmp_path / "r.json"]
    outputs = ["--valid", str(finals[0]), "--rejects", str(finals[1]), "--report",
               str(finals[2])]
    process = subprocess.Popen(
        [*CHECK, str(source), "--no-check-mx", "--chunk-size", "80", "--dask",
         cluster.scheduler_address, *outputs, "-q"], stderr=subprocess.PIPE)
    _busy_worker(cluster, process)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert not [p for p in tmp_path.iterdir() if p not in (source,)]
    # Nothing listens on this port: one sentence, exit 2, no file.
    result = run(source, "--no-check-mx", "--dask", f"tcp://127.0.0.1:{free_port()}",
                 "--dask-timeout", "1", *outputs)
    assert result.returncode == 2
    message = result.stderr.decode().strip()
    assert message.startswith("validator: cannot reach the Dask scheduler at tcp://127.0.0.1:")
    assert message.endswith("no output file was written") and "\n" not in message
    assert not [p for p in tmp_path.iterdir() if p not in (source,)]


def test_dask_local_starts_its_own_cluster(tmp_path: Path) -> None:
    source = tmp_path / "many.jsonl"
    source.write_text("".join(json.dumps(contact(i % 40)) + "\n" for i in range(100)))
    local = _outputs(tmp_path, "local", [source], "--no-check-mx", "-j", "1")
    dask = _outputs(tmp_path, "dask", [source], "--no-check-mx", "-j", "2", "--chunk-size",
                    "10", "--dask", "local")
    _same(local, dask)
    assert b"running on a local Dask cluster: 2 workers" in dask["stderr"]


def test_scheduler_and_worker_as_processes_of_their_own(tmp_path: Path) -> None:
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    dask = os.path.join(os.path.dirname(sys.executable), "dask")  # the venv's command
    scheduler = subprocess.Popen(
        [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--dashboard-address",
         "127.0.0.1:0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = subprocess.Popen(
        [dask, "worker", address, "--nthreads", "2", "--no-nanny", "--no-dashboard",
         "--host", "127.0.0.1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with distributed.Client(address, timeout=60) as client:
            client.wait_for_workers(1, timeout=60)
        source = tmp_path / "tricky.csv"
        source.write_bytes(_tricky_csv())
        local = _outputs(tmp_path, "local", [source], "--no-check-mx", "-j", "1")
        remote = _outputs(tmp_path, "remote", [source], "--no-check-mx", "--dask", address,
                          env={"VALIDATOR_BLOCK_BYTES": "300"}, subprocess_=True)
        _same(local, remote)
        assert f"the Dask scheduler at {address}: 1 worker, 2 threads; dashboard " \
            "http://127.0.0.1:".encode() in remote["stderr"]
    finally:
        for process in (worker, scheduler):
            process.terminate()
        for process in (worker, scheduler):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# --------------------------------------------------------------------------------------------
# The Python API: verdict columns on data frames
# --------------------------------------------------------------------------------------------
def _frame_source(tmp_path: Path) -> tuple[Path, dict[int, dict[str, Any]]]:
    """A CSV file and its verdicts from `validator check` (without 1008: rows on their own),
    by 0-based row."""
    source = tmp_path / "frame.csv"
    _big_csv(source, 400)
    with source.open("a") as out:
        out.write("blocked@spam.example,Spam,pV3r,1\n,No mail,pV3r,2\n")
    (tmp_path / "suppress.txt").write_text("@spam.example\n")
    result = run(source, "--no-check-mx", "--no-dedupe", "-j", "1", "--suppress",
                 tmp_path / "suppress.txt", "--rejects", tmp_path / "bad.jsonl", "-q")
    assert result.returncode == 1, result.stderr
    assert result.returncode == 1, result.stderr
    return source, {r["line"] - 2: r["error"] for r in _without_uuid(tmp_path / "bad.jsonl")}


def _expected_columns(rows: int, refused: dict[int, dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [("invalid", refused[i]["code"], refused[i]) if i in refused else ("valid", None, None)
            for i in range(rows)]


def _columns(statuses: list[Any], codes: list[Any], errors: list[Any]) -> list[tuple[Any, ...]]:
    out = []
    for status, code, error in zip(statuses, codes, errors, strict=True):
        body = json.loads(error) if isinstance(error, str) else None
        if body is not None:
            body.pop("uuid")
        try:
            number: int | None = int(code)
        except (TypeError, ValueError):  # None, NaN or pandas' NA
            number = None
        out.append((status, number, body))
    return out


def test_check_frame_is_lazy_and_gives_the_commands_verdicts(tmp_path: Path,
                                                             cluster: Any) -> None:
    import dask
    import dask.dataframe as dd
    import pandas as pd

    from validator.batch import BatchOptions, check_frame, load_suppression

    source, refused = _frame_source(tmp_path)
    frame = pd.read_csv(source, dtype=str, keep_default_na=False, na_values=[""])
    computed = tmp_path / "computed"

    @dask.delayed  # type: ignore[untyped-decorator]
    def part(start: int, stop: int) -> pd.DataFrame:
        computed.mkdir(exist_ok=True)
        (computed / str(start)).touch()
        return frame.iloc[start:stop]

    pieces = [part(start, min(start + 100, len(frame))) for start in range(0, len(frame), 100)]
    lazy = dd.from_delayed(pieces, meta=frame.iloc[:0])
    addresses, domains = load_suppression(str(tmp_path / "suppress.txt"))
    checked = check_frame(lazy, batch=BatchOptions(suppressed_addresses=addresses,
                                                   suppressed_domains=domains))
    assert list(checked.columns) == [*frame.columns, "status", "code", "error"]
    assert not computed.exists()  # nothing ran yet
    with distributed.Client(cluster.scheduler_address) as client:
        result = client.compute(checked[checked.status != "valid"]).result()
    assert len(list(computed.iterdir())) == len(pieces)
    expected = {i: v for i, v in enumerate(_expected_columns(len(frame), refused))
                if v[0] != "valid"}
    got = _columns(list(result.status), list(result.code), list(result.error))
    assert dict(zip(result.index, got, strict=True)) == expected
    assert expected[len(frame) - 2][1] == 1002  # the suppression list reached the workers


def test_check_table_takes_pandas_polars_and_arrow(tmp_path: Path) -> None:
    import pandas as pd
    import polars as pl
    import pyarrow as pa

    from validator import InputError
    from validator.batch import check_table

    source, refused = _frame_source(tmp_path)
    # (Without the suppressed row: no suppression list here.)
    frame = pd.read_csv(source, dtype=str, keep_default_na=False, na_values=[""]).iloc[:-2]
    expected = _expected_columns(len(frame), refused)
    checked = check_table(frame)
    assert isinstance(checked, pd.DataFrame)
    assert _columns(list(checked.status), list(checked.code), list(checked.error)) == expected
    polars = check_table(pl.from_pandas(frame))
    assert isinstance(polars, pl.DataFrame)
    assert _columns(polars["status"].to_list(), polars["code"].to_list(),
                    polars["error"].to_list()) == expected
    table = check_table(pa.Table.from_pandas(frame, preserve_index=False))
    assert isinstance(table, pa.Table)
    assert _columns(*(table.column(c).to_pylist() for c in ("status", "code", "error"))) == \
        expected
    # Typed columns are read as their text, then as the schema's types.
    typed = check_table(pa.table({"email": ["a@example.com"] * 2, "campaign.campaignId":
                                  ["pV3r"] * 2, "scoring": [12, None]}))
    assert typed.column("status").to_pylist() == ["valid", "valid"]
    with pytest.raises(InputError, match="already has a column named 'status'"):
        check_table(frame.assign(status="x"))
    with pytest.raises(InputError, match="not list"):
        check_table([{"email": "a@example.com"}])
    nested = pd.DataFrame({"email": ["a@example.com"], "tags": [["vip"]]})
    with pytest.raises(InputError, match="column 'tags' is list"):
        check_table(nested)
    import dask
    import dask.dataframe as dd

    from validator.batch import check_frame

    # A Dask frame's meta cannot tell what an object column holds: its partitions are checked.
    with dask.config.set({"dataframe.convert-string": False}), \
            pytest.raises(InputError, match="partition of the frame: column 'tags' is list"):
        check_frame(dd.from_pandas(nested, npartitions=1)).compute(scheduler="sync")
