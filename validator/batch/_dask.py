"""Batch runs on a Dask cluster (``validator check --dask ADDRESS``).

Only the unit of work moves: the run (``_run``) still cuts the input, resolves each distinct
domain once, compares the 1008 digests and writes in input order, exactly as with local worker
processes; this engine maps ``check_block`` (and, with MX checks, ``block_domains``) over the
blocks on the cluster's workers. So the outputs are those of a local run, whatever the number
of workers, and a worker lost mid-run costs only its tasks, which Dask runs again elsewhere:
their results are folded in once, in order, by the run.

The run's constants (schema name, options, suppression list) are scattered to every worker
once, not sent with each block. ``distributed`` is imported only when a run asks for Dask.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .._exceptions import InputError
from .._options import ValidationOptions
from ..rules import MXPath
from ._blocks import block_domains, check_block
from ._options import BatchOptions
from ._units import Block, BlockResult, BlockSpec

if TYPE_CHECKING:
    from ..dns import DomainVerdict

Setup = tuple[str, ValidationOptions, BatchOptions, tuple[MXPath, ...]]


def distributed() -> Any:
    """The ``distributed`` package, or InputError naming the extra that brings it."""
    try:
        import distributed
    except ImportError:
        raise InputError("--dask needs Dask: pip install 'getresponse-validator[dask]'"
                         ) from None
    return distributed


def dask_check(block: Block, spec: BlockSpec, verdicts: Mapping[str, DomainVerdict],
               setup: Setup) -> BlockResult:
    """``check_block`` as a Dask task; ``setup`` arrives once per worker (scattered)."""
    schema_name, options, batch, _ = setup
    return check_block(block, spec, schema_name, options, batch, verdicts)


def dask_domains(block: Block, spec: BlockSpec, setup: Setup) -> set[str]:
    return block_domains(block, spec, setup[3])


class DaskEngine:
    """The blocks of a run, judged on a Dask cluster: ``"local"`` starts a ``LocalCluster``
    of ``jobs`` worker processes (one thread each) for this run; any other address is a
    running scheduler (``tcp://host:port``), shared with whatever else it runs."""

    in_process_first = False

    def __init__(self, address: str, jobs: int, timeout: float, schema_name: str,
                 options: ValidationOptions, batch: BatchOptions,
                 mx_paths: tuple[MXPath, ...]) -> None:
        dd = distributed()
        self.address = address
        self.cluster: Any = None
        try:
            if address == "local":
                self.cluster = dd.LocalCluster(
                    n_workers=jobs, threads_per_worker=1, processes=True,
                    dashboard_address=":0", silence_logs=logging.ERROR)
                self.client = dd.Client(self.cluster, set_as_default=False)
            else:
                self.client = dd.Client(address, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            if self.cluster is not None:
                self.cluster.close()
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise InputError(f"cannot reach the Dask scheduler at {address}: {reason}; "
                             "no output file was written") from None
        try:
            self.threads: int = max(1, int(sum(self.client.nthreads().values())))
            if not self.client.nthreads():
                raise InputError(f"the Dask scheduler at {address} has no workers; no output "
                                 "file was written")
            setup: Setup = (schema_name, options, batch, mx_paths)
            [self.setup] = self.client.scatter([setup], broadcast=True, hash=False)
        except BaseException:
            self.close(cancel=True)
            raise

    def describe(self) -> str:
        # (A scheduler started with --no-dashboard serves none: its link would lead nowhere.)
        services = self.client.scheduler_info().get("services", {})
        link = self.client.dashboard_link if "dashboard" in services else "none (the " \
            "scheduler serves no dashboard)"
        where = "a local Dask cluster" if self.cluster is not None else \
            f"the Dask scheduler at {self.address}"
        workers = len(self.client.nthreads())
        return (f"running on {where}: {workers} worker{'s' if workers != 1 else ''}, "
                f"{self.threads} thread{'s' if self.threads != 1 else ''}; dashboard {link}")

    def window(self, mx: bool) -> int:
        return max(2, self.threads * (3 if mx else 2))

    def check(self, block: Block, spec: BlockSpec, verdicts: dict[str, DomainVerdict]
              ) -> Any:
        # pure=False: two blocks with the same bytes are still two tasks (two sets of lines).
        return self.client.submit(dask_check, block, spec, verdicts, self.setup, pure=False)

    def domains(self, block: Block, spec: BlockSpec) -> Any:
        return self.client.submit(dask_domains, block, spec, self.setup, pure=False)

    def close(self, cancel: bool) -> None:
        # Closing the client releases its futures, so the cluster drops the run's tasks
        # (``cancel`` or not: the run holds no future it has not waited for by then).
        client, self.client = getattr(self, "client", None), None
        if client is not None:
            # (A scheduler gone away has nothing left to release.)
            with contextlib.suppress(OSError, TimeoutError, RuntimeError):
                client.close()
        if self.cluster is not None:
            cluster, self.cluster = self.cluster, None
            cluster.close()
