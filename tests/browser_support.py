"""Shared pieces of the browser tests: Jupyter state kept out of $HOME, servers on free ports, headless chromium.

The tests drive Debian's chromium (apt-get install chromium) through Playwright's Python API; they never
run `playwright install`. Every process started here is stopped again: terminate, wait, kill on timeout.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import typing
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"
CHROMIUM = shutil.which("chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]

needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium; .ci/run does it)")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def jupyter_env(root: Path) -> dict:
    """The environment for a Jupyter child process, with every config/state directory under root."""
    dirs = {"JUPYTER_CONFIG_DIR": "config", "JUPYTER_DATA_DIR": "data", "JUPYTER_RUNTIME_DIR": "runtime",
            "IPYTHONDIR": "ipython", "MPLCONFIGDIR": "matplotlib", "HOME": "home",
            "XDG_CONFIG_HOME": "home/.config", "XDG_CACHE_HOME": "home/.cache"}
    env = dict(os.environ, PYTHONHASHSEED="0", JUPYTER_PLATFORM_DIRS="1")
    # The kernels must pick matplotlib's inline backend as in a student's JupyterLab; the Makefile's
    # MPLBACKEND=Agg (right for pytest and figures) would make plt.show() in a kernel draw nothing.
    env.pop("MPLBACKEND", None)
    for var, sub in dirs.items():
        (root / sub).mkdir(parents=True, exist_ok=True)
        env[var] = str(root / sub)
    return env


def copy_notebooks(dest: Path, names=None) -> Path:
    """Copy the committed notebooks (all, or just `names`) to dest, so autosave cannot touch the originals."""
    dest.mkdir(parents=True, exist_ok=True)
    for nb in sorted(NOTEBOOKS.glob("*.ipynb")):
        if names is None or nb.name in names:
            shutil.copy2(nb, dest / nb.name)
    return dest


def find_notebook(prefix: str) -> Path | None:
    """The committed notebook whose name starts with prefix ("03"), or None while it does not exist yet."""
    found = sorted(NOTEBOOKS.glob(f"{prefix}*.ipynb"))
    return found[0] if found else None


def stop(proc: subprocess.Popen, timeout: float = 15) -> None:
    """Terminate a server we started and wait; kill it, and any kernel it leaves behind, on timeout.

    Kernels run in sessions of their own (jupyter_client starts them with start_new_session), so they are
    collected by process id, as the server's descendants, before the server is asked to stop.
    """
    import psutil  # ipykernel's own dependency

    if proc.poll() is not None:
        return
    try:
        descendants = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        descendants = []
    proc.terminate()                      # the server shuts its kernels down itself
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)     # its own session: only what it started
        proc.wait(timeout)
    _, alive = psutil.wait_procs(descendants, timeout=timeout)
    for p in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    psutil.wait_procs(alive, timeout=timeout)


def wait_listening(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    """Poll url until it answers (any HTTP status); fail with the server log if the server dies or hangs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"server exited with {proc.returncode} before answering:\n{log.read_text()[-3000:]}")
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.25)
    pytest.fail(f"server did not answer {url} within {timeout} s:\n{log.read_text()[-3000:]}")


@contextlib.contextmanager
def server(cmd: list, env: dict, ready_url: str, log: Path, cwd: Path | None = None, timeout: float = 60):
    """Run cmd (a Jupyter/Voila server) until the with-block ends; its output goes to log."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            wait_listening(ready_url, proc, log, timeout)
            yield proc
        finally:
            stop(proc)


class Server(typing.NamedTuple):
    url: str                          # http://127.0.0.1:port
    proc: subprocess.Popen

    def processes(self) -> list:
        """The server and everything it runs now (its kernels), as psutil.Process objects."""
        import psutil

        try:
            me = psutil.Process(self.proc.pid)
            return [me, *me.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []


def still_running(processes: list) -> list:
    """Those of `processes` that still run (a zombie waiting for its parent to reap it has stopped)."""
    import psutil

    running = []
    for p in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                running.append(p)
    return running


@contextlib.contextmanager
def jupyter_lab(root_dir: Path, state: Path):
    """A JupyterLab server on a free port serving root_dir, no token, announcements off; yields a Server."""
    env = jupyter_env(state)
    # The "news?" toast would cover the page; --level=user writes into JUPYTER_CONFIG_DIR, not the venv.
    subprocess.run([sys.executable, "-m", "jupyter", "labextension", "disable", "--level=user",
                    "@jupyterlab/apputils-extension:announcements"], env=env, check=True, capture_output=True)
    port = free_port()
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root", "--ip=127.0.0.1",
           f"--port={port}", "--ServerApp.token=", "--ServerApp.password=", "--ServerApp.port_retries=0",
           f"--ServerApp.root_dir={root_dir}", "--LabApp.news_url=None",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    url = f"http://127.0.0.1:{port}"
    with server(cmd, env, f"{url}/api/status", state / "jupyterlab.log") as proc:
        yield Server(url, proc)


PRESENT = REPO / "jupyter"  # make present's Voila config (jupyter/config/voila.json) and template (jupyter/voila)


def present_env(env: dict) -> dict:
    """What `make present` adds to the environment: pagemove's Voila config and offline template."""
    return dict(env, JUPYTER_CONFIG_PATH=str(PRESENT / "config"), JUPYTER_PATH=str(PRESENT))


@contextlib.contextmanager
def voila(notebook: Path, state: Path, *options: str):
    """Voila serving one notebook on a free port, configured as `make present` does (plus `options`);
    yields a Server (the page is served at /)."""
    env = present_env(jupyter_env(state))
    port = free_port()
    voila_bin = Path(sys.executable).with_name("voila")
    cmd = [str(voila_bin), str(notebook), "--no-browser", "--Voila.ip=127.0.0.1", f"--port={port}",
           "--Voila.port_retries=0", *options]
    url = f"http://127.0.0.1:{port}"
    # Any path but / answers without starting a kernel; a 404 proves the server listens.
    with server(cmd, env, f"{url}/pagemove-ready-probe", state / "voila.log", cwd=notebook.parent) as proc:
        yield Server(url, proc)


class Traffic(typing.NamedTuple):
    """What a page did on the network and in its console, for the "works offline" assertions."""
    console: list            # console messages of type error
    failed: list             # URLs of requests that failed
    outside: list            # URLs of requests to anywhere but the test's own server

    def problems(self) -> str:
        return f"console errors: {self.console}\nfailed requests: {self.failed}\noutside requests: {self.outside}"


def watch(page, origin: str) -> Traffic:
    """Record console errors, failed requests and requests that leave `origin` (http://127.0.0.1:port)."""
    traffic = Traffic([], [], [])
    page.on("console", lambda m: traffic.console.append(m.text) if m.type == "error" else None)
    page.on("requestfailed", lambda r: traffic.failed.append(r.url))
    page.on("request", lambda r: traffic.outside.append(r.url)
            if not r.url.startswith((origin, "data:", "blob:")) else None)
    return traffic


@contextlib.contextmanager
def chromium_page(state: Path, console: list | None = None, viewport=(1400, 1000)):
    """A Playwright page in headless Debian chromium (1400x1000 unless told); console errors are appended
    to console."""
    from playwright.sync_api import sync_playwright

    env = jupyter_env(state)      # chromium writes ~/.config/chromium and ~/.cache/dconf: keep them in state
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, env=env, timeout=60_000)
        try:
            page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
            page.set_default_timeout(60_000)
            if console is not None:
                page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
            yield page
        finally:
            browser.close()


# ---- the explorer (pagemove.widgets.MoveExplorer) as a page shows it ----------------------------------

class ExplorerPage:
    """Locators for the controls and outputs of the one MoveExplorer inside `scope` (a page or a cell)."""

    def __init__(self, scope):
        self.scope = scope

    def text_box(self, label: str):
        """The <input> of the hex Text box labelled `label` ("old", "new", "len")."""
        return self.scope.locator(f".widget-text:has(> .widget-label:text-is('{label}')) input").first

    def slider_handle(self, label: str):
        """The page slider next to the hex box `label` (each address row is an HBox: box, slider)."""
        row = self.scope.locator(f".widget-hbox:has(> .widget-text > .widget-label:text-is('{label}'))").first
        return row.locator(".noUi-handle").first

    def toggle(self, group: str, choice: str):
        """A button of a ToggleButtons group ("Linux" -> "6.7", "mode", "geometry")."""
        return self.scope.locator(f".widget-toggle-buttons:has(.widget-label:text-is('{group}')) "
                                  f"button:text-is('{choice}')").first

    @property
    def preset(self):
        return self.scope.locator(".widget-dropdown:has(.widget-label:text-is('case')) select").first

    @property
    def summary(self):
        return self.scope.locator(".widget-html pre").last

    @property
    def image(self):
        return self.scope.locator("img.widget-image").first

    def image_digest(self) -> str:
        """SHA-256 of the PNG bytes the figure shows (its src is a blob: URL that changes on every update)."""
        return self.image.evaluate("""async img => {
            const bytes = await (await fetch(img.src)).arrayBuffer();
            const hash = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
            return Array.from(hash, b => b.toString(16).padStart(2, '0')).join('');
        }""")

    def wait_for_state(self, summary: str, previous_digest: str | None, timeout: float = 60) -> str:
        """Wait until the summary reads `summary` and the figure differs from previous_digest; its digest.

        Both are final-state markers: a control change may reach the kernel as several updates, and only
        the last one's summary equals the engine's text for the final values.
        """
        deadline = time.monotonic() + timeout
        seen, digest = None, None
        while time.monotonic() < deadline:
            if self.summary.count() and self.image.count():
                seen = self.summary.inner_text().strip()
                if seen == summary.strip():
                    digest = self.image_digest()
                    if digest != previous_digest:
                        return digest
            time.sleep(0.2)
        pytest.fail(f"explorer did not reach the expected state within {timeout} s\n"
                    f"expected summary:\n{summary}\nshown:\n{seen}\nfigure unchanged: {digest == previous_digest}")


def explorer_png_digests(preset: str, *changes: dict, presenter: bool = False) -> list[str]:
    """SHA-256 of the explorer's PNG for `preset`, then after each set(**change), drawn in this process.

    The kernel behind the page runs the same code on the same matplotlib, so a page showing the right
    move shows exactly these bytes.
    """
    import hashlib

    from pagemove.widgets import MoveExplorer

    ex = MoveExplorer(preset=preset, presenter=presenter)
    digests = [hashlib.sha256(ex.image.value).hexdigest()]
    for change in changes:
        ex.set(**change)
        assert not ex.error, ex.error
        digests.append(hashlib.sha256(ex.image.value).hexdigest())
    ex.close()
    return digests


def one_cell_notebook(path: Path, source: str) -> Path:
    """Write a notebook with one code cell (not run yet) that runs `source` on the python3 kernel."""
    import json

    cell = {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "source": source}
    kernel = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path.write_text(json.dumps({"cells": [cell], "metadata": {"kernelspec": kernel}, "nbformat": 4,
                                "nbformat_minor": 5}))
    return path


def open_and_run_first_cell(page, lab_url: str, name: str):
    """Open notebook `name` in JupyterLab (no restored workspace), run its first cell; its notebook panel."""
    page.goto(f"{lab_url}/lab/tree/{name}?reset")
    page.wait_for_selector(".jp-StatusBar-Item:has-text('| Idle')", timeout=120_000)  # the kernel is connected
    panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    panel.locator(".jp-Cell").first.click()
    page.keyboard.press("Shift+Enter")
    return panel


def strip_outputs(nb_path: Path) -> None:
    """Drop the stored outputs and widget state, so everything the browser shows comes from a live kernel."""
    import json

    nb = json.loads(nb_path.read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    nb["metadata"].pop("widgets", None)
    nb_path.write_text(json.dumps(nb, indent=1))
