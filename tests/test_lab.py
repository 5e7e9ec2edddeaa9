"""``make lab`` works: the exact JupyterLab command of the Makefile starts headless on a free
loopback port, serves ``/lab`` with the course's repository as its root, and stops by PID.

The command is taken from ``make -n lab`` (so a broken Makefile fails here) and run with
``--no-browser``, an empty token and ``--allow-root`` when root; the install step that
``make lab`` runs first is not repeated.
"""
import json
import re
import shlex
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest

from browser_helpers import REPO, free_port, server_env, start_server, stop_server, wait_http

pytestmark = pytest.mark.slow


def make_lab_command(port: int) -> list[str]:
    """The ``jupyter lab`` command line ``make lab PORT=port`` would run (from ``make -n``)."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    out = subprocess.run(["make", "-n", "lab", f"PORT={port}"], cwd=REPO,
                         capture_output=True, text=True, check=True, timeout=60).stdout
    lines = re.sub(r"\\\n\s*", " ", out).splitlines()
    found = [line for line in lines if re.search(r"jupyter(-lab)?\s+lab\b", line)]
    assert found, f"`make -n lab` runs no `jupyter lab` command:\n{out}"
    return shlex.split(found[-1])


def test_make_lab_serves_the_course(tmp_path):
    port = free_port()
    cmd = make_lab_command(port)
    assert f"--port={port}" in cmd
    cmd += ["--no-browser", "--ServerApp.ip=127.0.0.1", "--ServerApp.token=", "--ServerApp.password=",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if "--allow-root" not in cmd and subprocess.run(["id", "-u"], capture_output=True,
                                                    text=True).stdout.strip() == "0":
        cmd.append("--allow-root")
    log = tmp_path / "lab.log"
    proc = start_server(cmd, REPO, log, server_env(tmp_path))
    try:
        status, body = wait_http(f"http://127.0.0.1:{port}/lab", proc, log, timeout=90)
        assert status == 200
        assert "<title>JupyterLab</title>" in body and "jupyter-config-data" in body
        config = json.loads(re.search(r'id="jupyter-config-data"[^>]*>(.*?)</script>', body, re.S)
                            .group(1))
        assert config.get("appName") == "JupyterLab"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/contents", timeout=10) as resp:
            assert resp.status == 200 and json.load(resp)["type"] == "directory"
        served = re.search(r"Serving notebooks from local directory: (\S+)", log.read_text())
        assert served, log.read_text()[-2000:]
        # the lab opens on the course: the repository or its notebooks/ folder
        assert Path(served.group(1)).resolve() in (REPO.resolve(), (REPO / "notebooks").resolve())
    finally:
        stop_server(proc)
    assert proc.poll() is not None
