"""Run a notebook's code cells one by one in a fresh, capped, restartable IPython kernel.

Used by ``mmcourse grade`` and ``mmcourse run``. Guarantees:

* the kernel's working directory is the given (temporary) folder, ``mmcourse`` stays importable
  and the course data cache is shared (``MMCOURSE_CACHE``);
* each cell has a time limit (a hang is interrupted; a kernel that ignores the interrupt is
  killed) and the notebook has a wall-clock limit;
* memory is capped twice: ``RLIMIT_DATA`` inside the kernel (an over-large allocation raises
  ``MemoryError``) and a psutil watchdog on the kernel's process tree RSS (kills the tree).
  ``RLIMIT_AS`` is avoided on purpose: torch and TensorFlow reserve huge virtual ranges;
* after a dead kernel (``os._exit``, a crash, the watchdog) a new kernel is started, the cells
  that succeeded before are replayed silently, and execution goes on with the next cell.
"""
from __future__ import annotations

import asyncio
import copy
import os
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

#: status of one executed cell
OK, ERROR, TIMEOUT, DEAD, MEMORY, SKIPPED = "ok", "error", "timeout", "dead", "memory", "skipped"


@dataclass
class CellOutcome:
    """How one code cell ended: status, error name/value, stdout text and seconds."""

    status: str
    ename: str = ""
    evalue: str = ""
    stdout: str = ""
    seconds: float = 0.0
    restarted: bool = False

    @property
    def ok(self) -> bool:
        return self.status == OK

    def summary(self) -> str:
        """One line for a gradebook or feedback: what went wrong (empty when ok)."""
        if self.status == ERROR:
            return f"{self.ename}: {self.evalue}".strip().rstrip(":")
        if self.status == TIMEOUT:
            why = self.evalue or f"cell time limit reached after {self.seconds:.0f} s"
            return why + ("; kernel restarted" if self.restarted else "; interrupted")
        return {OK: "",
                DEAD: "the kernel died (e.g. os._exit or a crash); restarted",
                MEMORY: "memory limit exceeded; kernel killed and restarted",
                SKIPPED: self.evalue or "not run"}.get(self.status, self.status)


@dataclass
class RunResult:
    """The executed notebook (with outputs), one outcome per cell (None for non-code) and notes."""

    nb: nbformat.NotebookNode
    outcomes: list
    seconds: float
    notes: list = field(default_factory=list)


def kernel_env(extra: dict | None = None) -> dict:
    """Environment for grading kernels: ``mmcourse`` importable, shared data cache, no GUI."""
    env = dict(os.environ)
    pkg_parent = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (pkg_parent, env.get("PYTHONPATH")) if p)
    env.setdefault("MPLBACKEND", "agg")
    env.setdefault("PYTHONHASHSEED", "0")
    if "MMCOURSE_CACHE" not in env:
        try:  # DATA owns the cache location; share it with the kernel explicitly
            from mmcourse.data import cache_dir

            env["MMCOURSE_CACHE"] = str(cache_dir())
        except Exception:  # noqa: BLE001 - data package not available: kernel uses its default
            pass
    env.update(extra or {})
    return env


class _Watchdog(threading.Thread):
    """Kill a process tree whose total RSS exceeds ``limit_bytes`` (checked every 0.1 s)."""

    def __init__(self, pid: int, limit_bytes: int):
        super().__init__(daemon=True)
        self.pid, self.limit, self.tripped, self.peak = pid, limit_bytes, False, 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        import psutil

        while not self._stop_event.wait(0.1):
            try:
                root = psutil.Process(self.pid)
                procs = [root, *root.children(recursive=True)]
            except psutil.Error:
                return
            rss = 0
            for proc in procs:
                try:
                    rss += proc.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, rss)
            if rss > self.limit:
                self.tripped = True
                for proc in reversed(procs):
                    try:
                        proc.kill()
                    except psutil.Error:
                        pass
                return

    def stop(self) -> None:
        self._stop_event.set()


class Kernel:
    """One IPython kernel driven through nbclient, with limits; ``restart()`` gives a fresh one."""

    def __init__(self, nb, cwd, memory_mb: int | None = 4096, env: dict | None = None,
                 kernel_name: str = "python3"):
        from nbclient import NotebookClient

        self.cwd, self.memory_mb, self.env = str(cwd), memory_mb, env or kernel_env()
        self.client = NotebookClient(nb, kernel_name=kernel_name, allow_errors=True,
                                     interrupt_on_timeout=False, timeout=60,
                                     record_timing=False, iopub_timeout=10,
                                     raise_on_iopub_timeout=False,
                                     resources={"metadata": {"path": self.cwd}})
        self.watchdog: _Watchdog | None = None
        self._reply: dict | None = None
        self.client.on_cell_executed = self._record_reply

    def _record_reply(self, cell=None, cell_index=None, execute_reply=None, **_):
        self._reply = execute_reply

    async def start(self) -> None:
        client = self.client
        client.km = client.create_kernel_manager()
        await client.async_start_new_kernel(cwd=self.cwd, env=self.env,
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        await client.async_start_new_kernel_client()
        if self.memory_mb:
            limit = int(self.memory_mb) * 2**20
            self.watchdog = _Watchdog(self._pid(), limit)
            self.watchdog.start()
            await self.silent("import resource as _r\n"
                              f"_r.setrlimit(_r.RLIMIT_DATA, ({limit}, {limit}))\ndel _r", 30)

    def _pid(self) -> int:
        prov = self.client.km.provisioner
        return getattr(prov, "pid", None) or prov.process.pid

    async def stop(self) -> None:
        if self.watchdog:
            self.watchdog.stop()
        if self.client.km is not None:
            try:
                await self.client._async_cleanup_kernel()
            except Exception:  # noqa: BLE001 - a kernel that is already gone is fine
                self.client.km = self.client.kc = None

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    async def silent(self, code: str, timeout: float) -> bool:
        """Run ``code`` without recording outputs; True when it finished without error."""
        cell = nbformat.v4.new_code_cell(code)
        probe = await self.run_cell(cell, -1, timeout)
        return probe.ok

    async def run_cell(self, cell, index: int, timeout: float) -> CellOutcome:
        """Execute one code cell in place (outputs land in ``cell``); never raises for user code."""
        from nbclient.exceptions import CellTimeoutError, DeadKernelError

        client, start = self.client, time.monotonic()
        client.timeout = max(1, int(round(timeout)))
        saved_nb, private = client.nb, index < 0
        if private:  # keep it out of the notebook's outputs and the kernel's history
            index = 0
            client.nb = nbformat.v4.new_notebook(cells=[cell], metadata=saved_nb.metadata)
        self._reply = None
        try:
            await client.async_execute_cell(cell, index, store_history=not private)
            outcome = _from_outputs(cell, self._reply)
        except CellTimeoutError:
            outcome = CellOutcome(TIMEOUT)
            outcome.restarted = not await self._recover_from_timeout()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - dead kernel or protocol trouble: restart
            tripped = bool(self.watchdog and self.watchdog.tripped)
            if tripped:
                outcome = CellOutcome(MEMORY)
            elif isinstance(exc, DeadKernelError) or not await self._alive():
                outcome = CellOutcome(DEAD)
            else:
                outcome = CellOutcome(ERROR, "GraderError", f"{type(exc).__name__}: {exc}"[:300])
            await self.restart()
            outcome.restarted = True
        finally:
            client.nb = saved_nb
        outcome.seconds = time.monotonic() - start
        return outcome

    async def _alive(self) -> bool:
        try:
            return bool(await self.client.km.is_alive())
        except Exception:  # noqa: BLE001
            return False

    async def _recover_from_timeout(self) -> bool:
        """Interrupt a timed-out cell; restart the kernel when it does not answer within 5 s."""
        try:
            await self.client.km.interrupt_kernel()
            kc = self.client.kc
            msg_id = kc.execute("pass", silent=True, store_history=False)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                msg = await kc.shell_channel.get_msg(timeout=max(0.1, deadline - time.monotonic()))
                if msg["parent_header"].get("msg_id") == msg_id:
                    return True
        except Exception:  # noqa: BLE001 - Empty, dead kernel...: fall through to restart
            pass
        await self.restart()
        return False


def _from_outputs(cell, reply=None) -> CellOutcome:
    """Outcome from the cell's outputs and the kernel's execute reply (either may show an error).

    The reply matters: a custom IPython exception handler can hide the error output, but the
    reply still says ``status: error``.
    """
    stdout = "".join(o.get("text", "") for o in cell.get("outputs", [])
                     if o.get("output_type") == "stream" and o.get("name") == "stdout")
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            return CellOutcome(ERROR, out.get("ename", ""), out.get("evalue", ""), stdout)
    content = (reply or {}).get("content", {})
    if content.get("status") not in (None, "ok"):
        return CellOutcome(ERROR, content.get("ename", "Error"), content.get("evalue", ""), stdout)
    return CellOutcome(OK, stdout=stdout)


async def run_notebook_async(nb, cwd, cell_timeout: float = 60, notebook_timeout: float | None = None,
                             memory_mb: int | None = 4096, env: dict | None = None,
                             replay: bool = True, on_cell=None, before_cell=None) -> RunResult:
    """Execute ``nb``'s code cells (in place) and return one :class:`CellOutcome` per cell.

    ``before_cell(cell)`` may return code to run silently (unrecorded) right before ``cell``;
    ``on_cell(index, outcome)`` is called after each code cell.
    """
    start = time.monotonic()
    deadline = start + notebook_timeout if notebook_timeout else None
    kernel = Kernel(nb, cwd, memory_mb=memory_mb, env=env)
    outcomes: list = [None] * len(nb.cells)
    notes: list[str] = []
    done: list[int] = []  # indices of cells that finished ok (replayed after a restart)
    try:
        await kernel.start()
        for i, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0.5:
                outcomes[i] = CellOutcome(SKIPPED, evalue="not run: notebook time limit reached")
                continue
            prelude = before_cell(cell) if before_cell else None
            if prelude:
                await kernel.silent(prelude, min(30.0, cell_timeout))
            left = None if deadline is None else max(0.5, deadline - time.monotonic())
            outcome = await kernel.run_cell(cell, i, min(cell_timeout, left or cell_timeout))
            if outcome.status == TIMEOUT and left is not None and left < cell_timeout:
                outcome.evalue = f"notebook time limit reached ({notebook_timeout:.0f} s)"
            outcomes[i] = outcome
            if outcome.ok:
                done.append(i)
            elif outcome.restarted:
                notes.append(f"cell {i}: {outcome.summary()}")
                if replay and done:
                    await _replay(kernel, nb, done, cell_timeout, deadline)
            if on_cell:
                on_cell(i, outcome)
    finally:
        await kernel.stop()
    return RunResult(nb, outcomes, time.monotonic() - start, notes)


async def _replay(kernel: Kernel, nb, done, cell_timeout, deadline) -> None:
    """Re-run the cells that succeeded before a restart, discarding their outputs."""
    for j in list(done):
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0.5:
            return
        replay_cell = copy.deepcopy(nb.cells[j])
        outcome = await kernel.run_cell(replay_cell, -1, min(cell_timeout, left or cell_timeout))
        if outcome.status in (DEAD, MEMORY):
            return


def run_notebook(nb, cwd, **kwargs) -> RunResult:
    """Synchronous wrapper of :func:`run_notebook_async` (runs its own event loop)."""
    return asyncio.run(run_notebook_async(nb, cwd, **kwargs))
