"""Helpers for the widget and browser tests, and the docs screenshot.

* a cheap, deterministic demo engine without torch: image features are the colours and shapes
  present in each shapes scene (from its labels, plus a little seeded noise to break ties), and
  the text encoder is a bag-of-words over the dataset's vocabulary projected linearly onto the
  same colour/shape axes (each word is mapped through ``parse_caption``, so synonyms such as
  "disc" or "box" land on their shape);
* starting and stopping servers (Voila, JupyterLab) on free loopback ports in their own
  process group, and launching Debian's Chromium through the ``playwright`` package.

Make the README screenshot (about 10 s)::

    .venv/bin/python -m tests.browser_helpers screenshot docs/search_explorer.png
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--disable-dev-shm-usage"]


# ---------------------------------------------------------------- demo engine (no torch)
def demo_dataset(n_images: int = 96, seed: int = 0):
    """A small shapes dataset, generated in memory (no cache writes: xdist-safe)."""
    from mmcourse.data import make_shapes

    return make_shapes(n_images, seed=seed, cache=False)


def _axes():
    from mmcourse.data.shapes import COLOURS, SHAPES

    return list(COLOURS), list(SHAPES)


def demo_image_features(dataset, noise: float = 0.05, seed: int = 0) -> np.ndarray:
    """(n, n_colours + n_shapes) float32: which colours and shapes each image contains."""
    colours, shapes = _axes()
    lab = dataset.labels.reshape(len(dataset.labels), len(colours), len(shapes)).astype(np.float32)
    feats = np.concatenate([lab.max(axis=2), lab.max(axis=1)], axis=1)
    rng = np.random.default_rng(seed)
    return (feats + noise * rng.standard_normal(feats.shape)).astype(np.float32)


def demo_text_encoder(dataset):
    """A callable list[str] -> (n, n_colours + n_shapes): bag-of-words @ a word→axis map."""
    from mmcourse.data.shapes import parse_caption
    from mmcourse.text import Vocabulary, bag_of_words

    colours, shapes = _axes()
    vocab = Vocabulary.build(dataset.captions)
    proj = np.zeros((len(vocab), len(colours) + len(shapes)), dtype=np.float32)
    for word, i in vocab.stoi.items():
        meaning = parse_caption(word) if word.isalpha() else None
        if meaning is None or len(meaning.objects) != 1:
            continue
        desc = meaning.objects[0]
        if desc.colour is not None:
            proj[i, colours.index(desc.colour)] = 1.0
        if desc.shape is not None:
            proj[i, len(colours) + shapes.index(desc.shape)] = 1.0

    def encode(texts):
        return bag_of_words(texts, vocab) @ proj

    encode.vocab = vocab
    return encode


def demo_explorer(n_images: int = 96, seed: int = 0, **kwargs):
    """A SearchExplorer over a small shapes dataset with the demo encoders."""
    from mmcourse.widgets import SearchExplorer

    ds = demo_dataset(n_images, seed)
    return SearchExplorer(ds, demo_image_features(ds, seed=seed), demo_text_encoder(ds), **kwargs)


# ---------------------------------------------------------------- servers
def free_port() -> int:
    """A free TCP port on the loopback interface (asked from the OS)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(tmp: Path) -> dict:
    """Environment for a Jupyter server that shares no state with other test workers."""
    env = dict(os.environ)
    env.update({
        "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
        "IPYTHONDIR": str(tmp / "ipython"),
        "JUPYTER_PLATFORM_DIRS": "1",
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp / "lab-workspaces"),
        "JUPYTERLAB_SETTINGS_DIR": str(tmp / "lab-settings"),
        "MPLBACKEND": "Agg",
        "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        "PYTHONPATH": os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
    })
    return env


def start_server(cmd: list[str], cwd: Path, log: Path, env: dict) -> subprocess.Popen:
    """Start ``cmd`` in its own process group (so teardown can stop the whole tree)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    handle = open(log, "wb")  # noqa: SIM115 - closed by stop_server
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=handle, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    proc._log_handle = handle  # type: ignore[attr-defined]
    return proc


def stop_server(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGTERM the server's process group (kernels included), SIGKILL after ``timeout``."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=timeout)
    handle = getattr(proc, "_log_handle", None)
    if handle is not None:
        handle.close()


def wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60.0) -> tuple[int, str]:
    """Poll ``url`` until it answers; return ``(status, body)``. Fails with the server log."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                return resp.status, resp.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode("utf-8", "replace")
        except (urllib.error.URLError, ConnectionError, socket.timeout) as exc:
            last = exc
            time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer in {timeout} s ({last}):\n{log.read_text()[-3000:]}")


def write_notebook(path: Path, cells: list[str]) -> Path:
    """Write a minimal notebook with the given code cells (no outputs)."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def explorer_notebook(path: Path, n_images: int = 96, **kwargs) -> Path:
    """A notebook whose single cell displays ``demo_explorer(n_images, **kwargs)``."""
    args = ", ".join([str(n_images)] + [f"{k}={v!r}" for k, v in kwargs.items()])
    return write_notebook(path, [
        f"import sys\nsys.path.insert(0, {str(REPO / 'tests')!r})\n"
        f"from browser_helpers import demo_explorer\n"
        f"explorer = demo_explorer({args})\nexplorer"])


def voila_command(notebook: Path, port: int) -> list[str]:
    return [str(BIN / "voila"), str(notebook), "--no-browser", f"--port={port}",
            "--Voila.ip=127.0.0.1", "--show_tracebacks=True",
            "--VoilaConfiguration.file_allowlist=['.*']"]


def lab_command(root: Path, port: int) -> list[str]:
    """Headless JupyterLab on loopback without a token (``--allow-root`` when root)."""
    cmd = [str(BIN / "jupyter"), "lab", "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
           "--ServerApp.token=", "--ServerApp.password=", f"--ServerApp.root_dir={root}",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    return cmd


def launch_chromium(playwright):
    """Debian's Chromium driven by playwright (never ``playwright install``)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)


# ---------------------------------------------------------------- DOM helpers
VISIBLE_RESULTS_JS = """() => Array.from(document.querySelectorAll('.mm-result'))
    .filter(e => e.offsetParent !== null).length"""
DECODED_JS = """() => Array.from(document.querySelectorAll('.mm-result'))
    .filter(e => e.offsetParent !== null)
    .map(e => e.querySelector('img'))
    .every(img => img && img.complete && img.naturalWidth > 0)"""
MARKS_JS = """() => { const vis = Array.from(document.querySelectorAll('.mm-result'))
    .filter(e => e.offsetParent !== null);
    return {relevant: vis.filter(e => e.classList.contains('mm-relevant')).length,
            irrelevant: vis.filter(e => e.classList.contains('mm-irrelevant')).length}; }"""


def text_of(page, selector: str) -> str:
    return page.locator(selector).first.inner_text()


def run_query(page, text: str) -> None:
    """Type ``text`` in the query box and press the search button."""
    box = page.locator(".mm-query input").first
    box.fill(text)
    page.locator("button.mm-search").first.click()


def wait_results(page, n: int, timeout_ms: int = 20000) -> None:
    page.wait_for_function(f"() => ({VISIBLE_RESULTS_JS})() === {n}", timeout=timeout_ms)
    page.wait_for_function(DECODED_JS, timeout=timeout_ms)


# ---------------------------------------------------------------- screenshot CLI
def screenshot(out: Path, n_images: int = 96, query: str = "a red circle") -> Path:
    """Serve the demo explorer with Voila, run ``query``, and save a PNG screenshot of it."""
    import tempfile

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        nb = explorer_notebook(tmp / "explorer.ipynb", n_images)
        port = free_port()
        log = tmp / "voila.log"
        proc = start_server(voila_command(nb, port), tmp, log, server_env(tmp))
        try:
            wait_http(f"http://127.0.0.1:{port}/", proc, log, timeout=60)
            with sync_playwright() as p:
                browser = launch_chromium(p)
                page = browser.new_page(viewport={"width": 1000, "height": 720})
                page.goto(f"http://127.0.0.1:{port}/", timeout=90000)
                page.wait_for_selector(".mm-search-explorer", timeout=90000)
                run_query(page, query)
                wait_results(page, 8)
                page.wait_for_function("() => document.querySelector('.mm-metrics').innerText.includes('AP')")
                out.parent.mkdir(parents=True, exist_ok=True)
                page.locator(".mm-search-explorer").screenshot(path=str(out), type="png")
                browser.close()
        finally:
            stop_server(proc)
    _shrink_png(out)
    return out


def _shrink_png(path: Path, limit: int = 200_000) -> None:
    """Re-save with a 128-colour palette if the PNG is over ``limit`` bytes."""
    from PIL import Image

    if path.stat().st_size <= limit:
        return
    img = Image.open(path).convert("RGB").quantize(colors=128)
    img.save(path, optimize=True)


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m tests.browser_helpers")
    sub = parser.add_subparsers(dest="cmd", required=True)
    shot = sub.add_parser("screenshot", help="save a screenshot of the SearchExplorer")
    shot.add_argument("out", type=Path)
    shot.add_argument("--images", type=int, default=96)
    shot.add_argument("--query", default="a red circle")
    args = parser.parse_args(argv)
    out = screenshot(args.out, args.images, args.query)
    print(json.dumps({"file": str(out), "bytes": out.stat().st_size}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
