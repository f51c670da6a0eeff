"""forge-ipy's speed budget, measured against the naive way on the same servers in one run.

    .venv/bin/python benchmarks/run.py            # print the figures
    .venv/bin/python benchmarks/run.py --write    # and rewrite BENCHMARKS.md

Every figure is a median over repeated runs; ratios compare two things measured in the same
run on the same loopback providers (forge_ipy.testing), so a busy machine shifts both sides.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from forge_ipy.testing import LoopbackProviders, sample_models

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PROVIDERS = ["openai", "anthropic", "gemini", "openrouter", "groq", "mistral", "together", "xai"]
PAGINATED = {"anthropic", "gemini"}  # three pages each
MODELS_PER_PROVIDER = 250  # 8 x 250 = 2,000 models


@dataclass
class Figure:
    name: str
    value: str
    target: str
    met: bool
    command: str
    detail: str = ""


def median_seconds(run: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def serve(latency: float) -> LoopbackProviders:
    server = LoopbackProviders()
    for pid in PROVIDERS:
        models = sample_models(pid, MODELS_PER_PROVIDER)
        page = MODELS_PER_PROVIDER // 3 + 1 if pid in PAGINATED else None
        server.add(pid, models=models, latency=latency, page_size=page)
    return server.start()


def isolated_env(server: LoopbackProviders, folder: Path) -> dict[str, str]:
    # Bytecode is written as for an installed package (pip compiles it), or every new
    # process would measure compiling our modules rather than running them.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("FORGE_") and not k.endswith("_API_KEY")
           and k != "PYTHONDONTWRITEBYTECODE"}
    env.update(server.env())
    env.update(FORGE_IPY_CONFIG_DIR=str(folder / "config"),
               FORGE_IPY_CACHE_DIR=str(folder / "cache"),
               # Ollama is not served; a closed explicit root would count as a failure, so
               # point its default nowhere by leaving it unset (it is skipped when absent).
               FORGE_IPY_NO_BACKGROUND_REFRESH="1",
               # Benchmarks never reach models.dev; the bundled snapshot serves the facts.
               FORGE_MODEL_FACTS_URL="off")
    return env


def apply_env(env: dict[str, str]) -> None:
    os.environ.clear()
    os.environ.update(env)


# -- 1. cold fetch ----------------------------------------------------------------------
def bench_cold_fetch(repeat: int) -> Figure:
    from forge_ipy.aggregator import fetch_one
    from forge_ipy.cache import ModelCache
    from forge_ipy.catalog import Catalog
    from forge_ipy.providers.registry import logged_in

    with serve(latency=0.3) as server, tempfile.TemporaryDirectory() as tmp:
        apply_env(isolated_env(server, Path(tmp)))
        accesses = logged_in(tuple(PROVIDERS))
        slowest = next(a for a in accesses if a.id == "anthropic")

        async def one(access):  # a provider on its own: the floor for any strategy
            async with httpx.AsyncClient(follow_redirects=False) as client:
                return await fetch_one(client, access, timeout=60)

        async def sequential():
            async with httpx.AsyncClient(follow_redirects=False) as client:
                for access in accesses:
                    await fetch_one(client, access, timeout=60)

        def forge():
            catalog = Catalog(cache=ModelCache())
            catalog.cache.clear()
            listing = catalog.get_all_models(settings={"model_cache_strategy": "fresh"})
            assert len(listing) == 2000, len(listing)

        t_slowest = median_seconds(lambda: asyncio.run(one(slowest)), repeat)
        t_forge = median_seconds(forge, repeat)
        t_sequential = median_seconds(lambda: asyncio.run(sequential()), max(2, repeat // 2))
    ratio = t_forge / t_slowest
    return Figure(
        "cold fetch, 8 providers x 300 ms (2 paginated into 3 pages), 2,000 models",
        f"{t_forge * 1000:.0f} ms = {ratio:.2f}x the slowest provider alone "
        f"({t_slowest * 1000:.0f} ms); one after another: {t_sequential * 1000:.0f} ms "
        f"({t_sequential / t_forge:.1f}x slower than forge-ipy)",
        "<= 1.15x the slowest provider", ratio <= 1.15, "benchmarks/run.py (cold_fetch)")


# -- 2. warm call -----------------------------------------------------------------------
def bench_warm(repeat: int) -> Figure:
    from forge_ipy.catalog import Catalog

    with serve(latency=0.0) as server, tempfile.TemporaryDirectory() as tmp:
        apply_env(isolated_env(server, Path(tmp)))
        catalog = Catalog()
        assert len(catalog.get_all_models()) == 2000
        number = 2000
        runs = timeit.repeat(catalog.get_all_models, number=number, repeat=repeat)
    micro = statistics.median(runs) / number * 1e6
    return Figure("warm get_all_models() from memory, 2,000 models", f"{micro:.1f} µs",
                  "< 50 µs", micro < 50, "benchmarks/run.py (warm)")


# -- 3 & 4. new processes ---------------------------------------------------------------
def _proc_medians(first: list[str], second: list[str], env: dict[str, str],
                  repeat: int, warm: bool = True) -> tuple[float, float]:
    """Medians of two commands run in turn, so a machine that gets busier or quieter during
    the run weighs on both alike."""
    def run(argv: list[str]) -> float:
        started = time.perf_counter()
        subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - started

    if warm:  # the OS file cache, and bytecode written
        run(first), run(second)
    times = [(run(first), run(second)) for _ in range(repeat)]
    return (statistics.median(t for t, _ in times), statistics.median(t for _, t in times))


def _filled_cache(server: LoopbackProviders, folder: Path) -> dict[str, str]:
    env = isolated_env(server, folder)
    subprocess.run([str(BIN / "forge-ipy"), "models", "--json"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    return env


def bench_cli_json(repeat: int) -> Figure:
    with serve(latency=0.0) as server, tempfile.TemporaryDirectory() as tmp:
        env = _filled_cache(server, Path(tmp))
        before = len(server.requests)
        t_cli, t_base = _proc_medians([str(BIN / "forge-ipy"), "models", "--json"],
                                      [sys.executable, "-c", "import httpx, pydantic"],
                                      env, repeat)
        network = len(server.requests) - before
    ratio = t_cli / t_base
    return Figure(
        "new process: forge-ipy models --json from a valid file cache (2,000 models)",
        f"{t_cli * 1000:.0f} ms = {ratio:.2f}x `python -c \"import httpx, pydantic\"` "
        f"({t_base * 1000:.0f} ms); requests made: {network}",
        "< 2x import httpx, pydantic; no network", ratio < 2 and network == 0,
        "benchmarks/run.py (cli_json)")


# What a TAB runs: the printed completion scripts call forge-ipy's Python directly.
TAB_CODE = "import sys; from forge_ipy.complete import main; sys.exit(main(sys.argv[1:]))"


def bench_complete(repeat: int) -> Figure:
    with serve(latency=0.0) as server, tempfile.TemporaryDirectory() as tmp:
        env = _filled_cache(server, Path(tmp))
        t_command, t_pass = _proc_medians(
            [str(BIN / "forge-ipy"), "complete", "models", ""],
            [sys.executable, "-c", "pass"], env, repeat)
        t_tab, t_pass_again = _proc_medians(
            [sys.executable, "-c", TAB_CODE, "models", ""],
            [sys.executable, "-c", "pass"], env, repeat)
    ratio, tab_ratio = t_command / t_pass, t_tab / t_pass_again
    return Figure(
        "completion of all 2,000 cached models (logged-in check included)",
        f"a TAB (the printed script's call): {t_tab * 1000:.0f} ms = {tab_ratio:.2f}x "
        f"`python -c pass` ({t_pass_again * 1000:.0f} ms); `forge-ipy complete models`: "
        f"{t_command * 1000:.0f} ms = {ratio:.2f}x ({t_pass * 1000:.0f} ms)",
        "<= 2x python -c pass", ratio <= 2 and tab_ratio <= 2, "benchmarks/run.py (complete)")


def bench_complete_first(repeat: int) -> Figure:
    """The first TAB after something changed: who is logged in is worked out again."""
    with serve(latency=0.0) as server, tempfile.TemporaryDirectory() as tmp:
        env = _filled_cache(server, Path(tmp))
        tab = [sys.executable, "-c", TAB_CODE, "models", ""]
        base = [sys.executable, "-c", "pass"]
        _proc_medians(tab, base, env, 1)  # bytecode written, files in the OS cache
        firsts, passes = [], []
        for run in range(repeat):
            # Another TTL each time: an input of the memo changed, as after a login.
            changed = {**env, "FORGE_MODEL_CACHE_TTL_SECONDS": str(3600 + run)}
            first, plain = _proc_medians(tab, base, changed, 1, warm=False)
            firsts.append(first)
            passes.append(plain)
    first, plain = statistics.median(firsts), statistics.median(passes)
    return Figure("a TAB after a login or a setting change (who is logged in worked out again)",
                  f"{first * 1000:.0f} ms = {first / plain:.2f}x `python -c pass`",
                  "<= 6x python -c pass (every TAB cost about 5x before the memo)",
                  first / plain <= 6, "benchmarks/run.py (complete_first)")


_LOAD_EXT = """
import json, sys, time
from IPython.core.interactiveshell import InteractiveShell
ip = InteractiveShell.instance()
started = time.perf_counter()
ip.run_line_magic("load_ext", "forge_ipy")
seconds = time.perf_counter() - started
print(json.dumps([seconds, [m for m in sys.modules if m.startswith("forge_ipy.chat")]]))
"""


def bench_load_ext(repeat: int) -> Figure:
    with serve(latency=0.0) as server, tempfile.TemporaryDirectory() as tmp:
        env = _filled_cache(server, Path(tmp))
        runs = [json.loads(subprocess.run([sys.executable, "-c", _LOAD_EXT], env=env,
                                          check=True, capture_output=True, text=True).stdout)
                for _ in range(repeat)]
    added = statistics.median(seconds for seconds, _ in runs) * 1000
    chat = sorted({m for _, modules in runs for m in modules})
    return Figure("%load_ext forge_ipy in a fresh IPython",
                  f"{added:.1f} ms added; chat modules imported: {len(chat)}",
                  "< 100 ms; nothing of chat", added < 100 and not chat,
                  "benchmarks/run.py (load_ext)")


# -- 7. time to first token ---------------------------------------------------------------
def bench_chat_first_token(repeat: int) -> Figure:
    """What forge-ipy adds before the first token, over a raw httpx stream of the same
    request to the same loopback provider (which answers at once: all of it is overhead)."""
    import forge_ipy
    from forge_ipy.catalog import get_catalog

    with serve(latency=0.0) as server, tempfile.TemporaryDirectory() as tmp:
        apply_env(isolated_env(server, Path(tmp)))
        model, prompt = "openai/openai-model-0001", "how fast is the first token?"
        forge_ipy.chat(prompt, model=model)  # the listing cached, the loop and client up
        assert get_catalog().get_all_models()
        url = server.root("openai") + "/chat/completions"
        headers = {"authorization": f"Bearer {server.providers['openai'].key}"}
        body = {"model": model.partition("/")[2], "stream": True,
                "messages": [{"role": "user", "content": prompt}],
                "stream_options": {"include_usage": True}}

        loop, client = asyncio.new_event_loop(), httpx.AsyncClient()

        async def first_raw_token() -> float:  # what one would write by hand, on one loop
            started = time.perf_counter()
            async with client.stream("POST", url, json=body, headers=headers) as response, \
                    contextlib.aclosing(response.aiter_lines()) as lines:
                async for line in lines:
                    if '"content": "You' in line:
                        return time.perf_counter() - started
            raise AssertionError("no first token")

        def raw() -> float:
            return loop.run_until_complete(first_raw_token())

        def forge() -> float:
            started = time.perf_counter()
            replies = forge_ipy.chat(prompt, model=model, stream=True)
            next(iter(replies))
            first = time.perf_counter() - started
            replies.close()
            return first

        for _ in range(3):  # connections, imports and caches warm on both sides
            raw(), forge()
        pairs = [(raw(), forge()) for _ in range(repeat * 10)]  # interleaved: same conditions
        loop.run_until_complete(client.aclose())
        loop.close()
        t_raw = statistics.median(r for r, _ in pairs)
        t_forge = statistics.median(f for _, f in pairs)
    added = (t_forge - t_raw) * 1000
    return Figure(
        "time to first token added over a raw httpx.AsyncClient stream (same request, "
        "same loopback provider)",
        f"{added:.2f} ms added (forge-ipy {t_forge * 1000:.2f} ms, raw httpx "
        f"{t_raw * 1000:.2f} ms)", "<= 5 ms", added <= 5, "benchmarks/run.py (chat_first_token)")


# -- 6. memory --------------------------------------------------------------------------
def bench_memory(repeat: int) -> Figure:
    from forge_ipy.catalog import Catalog

    with serve(latency=0.0) as server, tempfile.TemporaryDirectory() as tmp:
        env = _filled_cache(server, Path(tmp))
        apply_env(env)
        tracemalloc.start()
        before = tracemalloc.take_snapshot()
        catalog = Catalog()
        listing = catalog.get_all_models()  # file -> memory entries + the aggregated view
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
        assert len(listing) == 2000
    held = sum(s.size_diff for s in after.compare_to(before, "filename")) / 1e6
    return Figure("memory held by a 2,000-model cache (entries + aggregated view)",
                  f"{held:.2f} MB", "< 10 MB", held < 10, "benchmarks/run.py (memory)")


BENCHES = {"cold_fetch": bench_cold_fetch, "warm": bench_warm, "cli_json": bench_cli_json,
           "complete": bench_complete, "complete_first": bench_complete_first,
           "load_ext": bench_load_ext, "memory": bench_memory,
           "chat_first_token": bench_chat_first_token}


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("only", nargs="*", choices=[*BENCHES, []], help="benchmarks to run")
    parser.add_argument("--repeat", type=int, default=7, help="runs per figure (median)")
    parser.add_argument("--write", action="store_true", help="rewrite BENCHMARKS.md")
    options = parser.parse_args()
    saved = dict(os.environ)
    figures = []
    for name in options.only or BENCHES:
        figure = BENCHES[name](options.repeat)
        apply_env(saved)
        figures.append(figure)
        mark = "met" if figure.met else "MISSED"
        print(f"[{mark}] {figure.name}: {figure.value} (target {figure.target})", flush=True)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    results = {"machine": f"{machine()}; load average at the end: {load}",
               "date": time.strftime("%Y-%m-%d"),
               "figures": [vars(f) for f in figures]}
    (ROOT / "benchmarks" / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    if options.write:
        write_markdown(results)
    return 0 if all(f.met for f in figures) else 1


def write_markdown(results: dict) -> None:
    notes_path = ROOT / "benchmarks" / "notes.md"
    notes = notes_path.read_text() if notes_path.exists() else ""
    rows = "\n".join(f"| {f['name']} | {f['value']} | {f['target']} | "
                     f"{'met' if f['met'] else '**missed**'} |" for f in results["figures"])
    text = f"""# Benchmarks

Measured by `.venv/bin/python benchmarks/run.py --write` on {results['date']}.
Machine: {results['machine']}.

Each figure is the median of repeated runs. Ratios compare two things measured in the same
run against the same loopback providers (`forge_ipy.testing`), so they hold on a busy machine
better than absolute times do. Tests never assert on time; this is where speed is judged.

| what | measured | target | |
|---|---|---|---|
{rows}

{notes}"""
    (ROOT / "BENCHMARKS.md").write_text(text)


if __name__ == "__main__":
    raise SystemExit(main())
