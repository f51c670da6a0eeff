"""A real Jupyter front end and a real Chromium for the browser tests.

JupyterLab 4 (`jupyter lab`) or Notebook 7 (`jupyter notebook`) runs on 127.0.0.1 with a random
token, in its own config, data and runtime folders (the virtual environment's `share/jupyter`
stays on the path, so the widget extensions installed there are found), against a loopback
provider server started here. Chromium is Debian's (`/usr/bin/chromium`), driven by
Playwright's sync API.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from forge_ipy.testing import KEY_VARS, FakeModel, LoopbackProviders, sample_models

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
# Two hostile ids: one that would open a dialog, one that would leave a mark on `window`.
HOSTILE_IDS = ("<img src=x onerror=alert(1)>", "<img src=y onerror=window.__xss=1>")
STARTUP_SECONDS = 120.0
# The front ends a test may ask for: the `jupyter` subcommand and what to call it in messages.
APPS = {"lab": "JupyterLab", "notebook": "Notebook 7"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if CHROMIUM.exists():
        return
    skip = pytest.mark.skip(reason=f"{CHROMIUM} is missing: install Debian's chromium "
                                   "(`apt-get install chromium`, done by .ci/run) to run it")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@dataclass
class JupyterServer:
    """A running `jupyter lab` or `jupyter notebook`; `app` says which."""

    app: str
    url: str
    token: str
    root_dir: Path
    log_path: Path
    config_dir: Path
    loopback: LoopbackProviders
    process: subprocess.Popen[bytes] = field(repr=False)

    @property
    def name(self) -> str:
        return APPS[self.app]

    def page_url(self, notebook: str) -> str:
        path = f"lab/tree/{notebook}" if self.app == "lab" else f"notebooks/{notebook}"
        return f"{self.url}/{path}?token={self.token}"

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def write_notebook(self, name: str, cells: list[str]) -> Path:
        notebook = {
            "nbformat": 4, "nbformat_minor": 5,
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                        "language": "python"},
                         "language_info": {"name": "python"}},
            "cells": [{"cell_type": "code", "id": f"cell-{i}", "metadata": {},
                       "execution_count": None, "outputs": [], "source": source}
                      for i, source in enumerate(cells)],
        }
        path = self.root_dir / name
        path.write_text(json.dumps(notebook, indent=1), encoding="utf-8")
        return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _clean_environment() -> dict[str, str]:
    """This process's environment without the tester's keys, API roots and forge settings."""
    dropped = {*KEY_VARS.values(), "GOOGLE_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL",
               "OLLAMA_HOST"}
    return {name: value for name, value in os.environ.items()
            if not name.startswith(("FORGE_", "JUPYTER_", "IPYTHON", "PYTEST_"))
            and name not in dropped}


def _wait_ready(lab: JupyterServer) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    request = urllib.request.Request(f"{lab.url}/api/status",
                                     headers={"Authorization": f"token {lab.token}"})
    while time.monotonic() < deadline:
        if lab.process.poll() is not None:
            raise RuntimeError(f"{lab.name} exited ({lab.process.returncode}):\n"
                               f"{lab.log_tail()}")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    raise RuntimeError(f"{lab.name} did not answer within {STARTUP_SECONDS:g} s:\n"
                       f"{lab.log_tail()}")


def _stop(lab: JupyterServer) -> None:
    """Ask the server to shut down (it stops its kernels), then make sure it is gone."""
    process = lab.process
    if process.poll() is None:
        request = urllib.request.Request(f"{lab.url}/api/shutdown", method="POST",
                                         headers={"Authorization": f"token {lab.token}"})
        try:
            urllib.request.urlopen(request, timeout=10).close()
            process.wait(timeout=20)
        except (urllib.error.URLError, OSError, subprocess.TimeoutExpired):
            pass
    # The server was started in its own session: its group holds it and its kernels only.
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            continue
    if process.poll() is None:
        process.kill()
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def hostile_ids() -> tuple[str, ...]:
    return HOSTILE_IDS


@pytest.fixture
def sample_providers() -> LoopbackProviders:
    """Every built-in provider with its samples; Ollama also offers the hostile ids.
    Not started: `start_lab` starts and stops it."""
    server = LoopbackProviders()
    for provider_id in ("openai", "anthropic", "gemini", "openrouter", "groq", "mistral",
                        "deepseek", "xai", "together", "fireworks", "cerebras"):
        server.add(provider_id)
    server.add("ollama", [*sample_models("ollama"), *(FakeModel(i) for i in HOSTILE_IDS)])
    return server


@pytest.fixture
def start_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """`start_lab(providers, env=None, app="lab")`: JupyterLab (`app="notebook"`: Notebook 7)
    on 127.0.0.1 with a token and isolated folders, its kernels pointed at `providers` (a
    LoopbackProviders not yet started: it is started here), with `env` added to theirs. Both
    are stopped when the test ends."""
    labs: list[JupyterServer] = []

    def start(providers: LoopbackProviders, env: dict[str, str] | None = None,
              app: str = "lab") -> JupyterServer:
        if app not in APPS:
            raise ValueError(f"app must be one of {sorted(APPS)}, not {app!r}")
        if "ollama" not in providers.providers:
            providers.add("ollama")  # else the kernel would look for a real local Ollama
        if not CHROMIUM.exists():
            pytest.skip(f"{CHROMIUM} is missing")
        providers.start()
        try:
            lab = _start_lab(tmp_path_factory.mktemp("jupyter"), providers, env or {}, app)
        except BaseException:
            providers.stop()
            raise
        labs.append(lab)
        _wait_ready(lab)
        return lab

    try:
        yield start
    finally:
        for lab in labs:
            try:
                _stop(lab)
            finally:
                lab.loopback.stop()


def _start_lab(base: Path, providers: LoopbackProviders, extra_env: dict[str, str],
               app: str) -> JupyterServer:
    folders = {name: base / name for name in (
        "root", "jupyter-config", "jupyter-data", "jupyter-runtime", "ipython", "forge-config",
        "forge-cache", "lab-settings", "lab-workspaces")}
    for folder in folders.values():
        folder.mkdir()
    # No news or update checks: nothing reaches out, no toast covers the page. Notebook 7
    # runs the same notification plugin and reads the same settings folder.
    notification = folders["lab-settings"] / "@jupyterlab" / "apputils-extension"
    notification.mkdir(parents=True)
    (notification / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}), encoding="utf-8")
    token, port = secrets.token_hex(24), _free_port()
    env = {
        **_clean_environment(), **providers.env(),
        "FORGE_IPY_CONFIG_DIR": str(folders["forge-config"]),
        "FORGE_IPY_CACHE_DIR": str(folders["forge-cache"]),
        "JUPYTER_CONFIG_DIR": str(folders["jupyter-config"]),
        "JUPYTER_DATA_DIR": str(folders["jupyter-data"]),
        "JUPYTER_RUNTIME_DIR": str(folders["jupyter-runtime"]),
        "IPYTHONDIR": str(folders["ipython"]),
        "JUPYTER_PLATFORM_DIRS": "1",
        "PYTHONUNBUFFERED": "1",
        "FORGE_MODEL_FACTS_URL": "off",  # the bundled snapshot: no test reaches models.dev
        **extra_env,
    }
    # `jupyter notebook` loads JupyterLab's server extension too, so the LabApp settings
    # hold for both; Notebook 7's own app needs its settings and workspaces folders as well.
    command = [
        sys.executable, "-m", "jupyter", app, "--no-browser", "--ip=127.0.0.1",
        f"--port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={folders['root']}",
        f"--LabApp.user_settings_dir={folders['lab-settings']}",
        f"--LabApp.workspaces_dir={folders['lab-workspaces']}",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly", "--ServerApp.terminals_enabled=False",
    ]
    if app == "notebook":
        command += [f"--JupyterNotebookApp.user_settings_dir={folders['lab-settings']}",
                    f"--JupyterNotebookApp.workspaces_dir={folders['lab-workspaces']}"]
    if os.geteuid() == 0:  # CI containers run as root
        command.append("--allow-root")
    log_path = base / f"jupyter-{app}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, env=env, cwd=folders["root"], stdout=log,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
    return JupyterServer(app, f"http://127.0.0.1:{port}", token, folders["root"], log_path,
                         folders["forge-config"], providers, process)


@dataclass
class BrowserEvents:
    """What the page did that a test may want to refuse: dialogs, uncaught errors."""

    dialogs: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)


@pytest.fixture
def browser_page(tmp_path: Path) -> Iterator[tuple[Any, BrowserEvents]]:
    """A fresh Chromium page (1400x1000) recording dialogs, page errors and console lines."""
    from playwright.sync_api import sync_playwright

    events = BrowserEvents()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            page = context.new_page()
            page.set_default_timeout(60_000)

            def on_dialog(dialog: Any) -> None:
                events.dialogs.append(f"{dialog.type}: {dialog.message}")
                dialog.dismiss()

            page.on("dialog", on_dialog)
            page.on("pageerror", lambda error: events.page_errors.append(str(error)))
            page.on("console", lambda msg: events.console.append(f"{msg.type}: {msg.text}"))
            yield page, events
        finally:
            browser.close()
