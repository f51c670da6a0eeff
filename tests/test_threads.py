"""Which thread runs what (docs/architecture.md, "Threads"), where it can be asserted: the
package's loop is one named daemon thread that only waits on the network; the cache file is
written elsewhere; `%load_ext` warms the cache on its own thread."""

from __future__ import annotations

import threading
import time

import pytest

from forge_ipy import loop as loop_module
from forge_ipy.cache import CacheFile
from forge_ipy.catalog import Catalog

LOOP_THREAD = "forge-ipy-loop"


@pytest.fixture
def writers(monkeypatch) -> list[str]:
    """The name of the thread of every write of the cache file."""
    names: list[str] = []
    real = CacheFile.write

    def recording(self, *args, **kwargs):
        names.append(threading.current_thread().name)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(CacheFile, "write", recording)
    return names


def test_the_loop_is_one_named_daemon_thread():
    async def where() -> threading.Thread:
        return threading.current_thread()

    background = loop_module.background_loop()
    first, second = background.run(where()), background.run(where())
    assert first is second  # one long-lived loop, not one per call
    assert first.name == LOOP_THREAD and first.daemon
    assert first is not threading.current_thread()


def test_waiting_on_the_loop_from_its_own_thread_is_refused():
    background = loop_module.background_loop()

    async def nested() -> None:
        async def inner() -> None:
            return None

        background.run(inner())

    with pytest.raises(RuntimeError, match="its own thread"):
        background.run(nested())


def test_the_cache_file_is_never_written_on_the_loop(loopback, serve, writers):
    for pid in ("openai", "anthropic"):
        loopback.add(pid)
    serve()
    catalog = Catalog()
    assert len(catalog.get_all_models()) > 0  # fetched now: the caller waits
    catalog.refresh()
    assert writers and LOOP_THREAD not in writers
    assert threading.current_thread().name not in writers  # the caller only waits, too


def test_a_background_refresh_writes_off_the_loop_too(loopback, serve, writers):
    loopback.add("openai")
    serve()
    clock = [time.time()]
    catalog = Catalog(clock=lambda: clock[0])
    catalog.get_all_models()
    writers.clear()
    clock[0] += 7200  # expired: served stale, refreshed behind
    catalog.get_all_models(settings={"model_cache_refresh": "background"})
    catalog.wait_background(timeout=30)
    assert writers and LOOP_THREAD not in writers


def test_load_ext_warms_the_cache_on_its_own_thread(loopback, serve, monkeypatch, tmp_path):
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    from forge_ipy import catalog as catalog_module

    loopback.add("openai")
    serve()
    seen: list[str] = []
    real = catalog_module.Catalog.get_all_models

    def recording(self, *args, **kwargs):
        seen.append(threading.current_thread().name)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(catalog_module.Catalog, "get_all_models", recording)
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    InteractiveShell.clear_instance()
    shell = InteractiveShell.instance(config=config)
    try:
        shell.run_line_magic("load_ext", "forge_ipy")
        warm = [t for t in threading.enumerate() if t.name == "forge-ipy-warm"]
        for thread in warm:
            assert thread.daemon
            thread.join(timeout=30)
        assert seen == ["forge-ipy-warm"]  # the prompt's thread asked nothing
    finally:
        shell.run_line_magic("unload_ext", "forge_ipy")
        InteractiveShell.clear_instance()
