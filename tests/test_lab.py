"""``make lab`` and ``make lab-instructor``: the exact JupyterLab commands of the Makefile.

* ``make lab`` (students) serves ``notebooks/`` only — ``solutions/`` (answers, hidden tests, mark
  schemes) is not one click away — with the project's lab settings, which turn off JupyterLab's
  "news" pop-up on the first open;
* ``make lab-instructor`` serves the repository root.

The commands are taken from ``make -n`` (so a broken Makefile fails here). The static checks are
fast; the live one starts the lab headless on a free loopback port (``--no-browser``, an empty
token, ``--allow-root`` when root), reads the served root and the effective notification settings
over HTTP, and stops it by PID. The install step that ``make lab`` runs first is not repeated.
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

NOTIFICATION = "@jupyterlab/apputils-extension:notification"


def make_lab_command(port: int, target: str = "lab") -> list[str]:
    """The ``jupyter lab`` command line ``make <target> PORT=port`` would run (from ``make -n``)."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    out = subprocess.run(["make", "-n", target, f"PORT={port}"], cwd=REPO,
                         capture_output=True, text=True, check=True, timeout=60).stdout
    lines = re.sub(r"\\\n\s*", " ", out).splitlines()
    found = [line for line in lines if re.search(r"jupyter(-lab)?\s+lab\b", line)]
    assert found, f"`make -n {target}` runs no `jupyter lab` command:\n{out}"
    return shlex.split(found[-1])


def option(cmd: list[str], name: str) -> str | None:
    """The value of ``--name=value`` in ``cmd`` (the last one wins, as in traitlets), or None."""
    values = [a.split("=", 1)[1] for a in cmd if a.startswith(f"--{name}=")]
    return values[-1] if values else None


def test_make_lab_serves_only_the_student_notebooks():
    cmd = make_lab_command(8123)
    assert "--port=8123" in cmd
    root = option(cmd, "ServerApp.root_dir") or option(cmd, "ServerApp.notebook_dir")
    assert root is not None, cmd
    assert Path(root).resolve() == (REPO / "notebooks").resolve(), f"make lab serves {root}"


def test_make_lab_instructor_serves_the_repository():
    cmd = make_lab_command(8124, "lab-instructor")
    assert "--port=8124" in cmd
    assert Path(option(cmd, "ServerApp.root_dir")).resolve() == REPO.resolve()


@pytest.mark.parametrize("target", ["lab", "lab-instructor"])
def test_lab_settings_turn_off_the_news_pop_up(target):
    cmd = make_lab_command(8125, target)
    settings_dir = option(cmd, "LabApp.app_settings_dir")
    assert settings_dir, f"`make {target}` passes no --LabApp.app_settings_dir: {cmd}"
    overrides = json.loads((Path(settings_dir) / "overrides.json").read_text())
    assert overrides[NOTIFICATION]["fetchNews"] == "false"      # "none" (the default) asks in a pop-up
    assert overrides[NOTIFICATION]["checkForUpdates"] is False


def test_readme_documents_both_lab_commands():
    readme = (REPO / "README.md").read_text()
    assert "make lab-instructor" in readme and "make lab " in readme


def test_readme_and_make_test_name_the_system_browser():
    """A fresh ``make test`` without Chromium says so, and the README says how to get it."""
    readme = (REPO / "README.md").read_text()
    assert "apt install chromium" in readme and ".ci/run" in readme
    out = subprocess.run(["make", "-n", "test"], cwd=REPO, capture_output=True, text=True,
                         check=True, timeout=60).stdout
    assert "chromium not found: apt install chromium" in out, out


@pytest.mark.slow
def test_make_lab_serves_the_course(tmp_path):
    port = free_port()
    cmd = make_lab_command(port)
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
            listing = json.load(resp)
        assert listing["type"] == "directory"
        names = {item["name"] for item in listing["content"]}
        assert "00_welcome_and_data.ipynb" in names and "solutions" not in names, sorted(names)
        served = re.search(r"Serving notebooks from local directory: (\S+)", log.read_text())
        assert served, log.read_text()[-2000:]
        assert Path(served.group(1)).resolve() == (REPO / "notebooks").resolve()
        # the settings the browser receives: the news prompt is off before anyone touches a setting
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/lab/api/settings/{NOTIFICATION}",
                                    timeout=10) as resp:
            defaults = json.load(resp)["schema"]["properties"]       # overrides.json changes the defaults
        assert defaults["fetchNews"]["default"] == "false", defaults["fetchNews"]
        assert defaults["checkForUpdates"]["default"] is False
    finally:
        stop_server(proc)
    assert proc.poll() is not None
