"""forge-ipy's speed budget, measured against the naive way on the same servers in one run.

    .venv/bin/python benchmarks/run.py            # print the figures
    .venv/bin/python benchmarks/run.py --write    # and rewrite BENCHMARKS.md

Every figure is a median over repeated runs; ratios compare two things measured in the same
run on the same loopback providers (forge_ipy.testing), so a busy machine shifts both sides.
"""

from __future__ import annotations

import argparse
import asyncio
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
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("FORGE_") and not k.endswith("_API_KEY")}
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
def _proc_median(argv: list[str], env: dict[str, str], repeat: int) -> float:
    def run() -> None:
        subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
    run()  # warm the OS file cache
    return median_seconds(run, repeat)


def _filled_cache(server: LoopbackProviders, folder: Path) -> dict[str, str]:
    env = isolated_env(server, folder)
    subprocess.run([str(BIN / "forge-ipy"), "models", "--json"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    return env


def bench_cli_json(repeat: int) -> Figure:
    with serve(latency=0.0) as server, tempfile.TemporaryDirectory() as tmp:
        env = _filled_cache(server, Path(tmp))
        before = len(server.requests)
        t_cli = _proc_median([str(BIN / "forge-ipy"), "models", "--json"], env, repeat)
        network = len(server.requests) - before
        t_base = _proc_median([sys.executable, "-c", "import httpx, pydantic"], env, repeat)
    ratio = t_cli / t_base
    return Figure(
        "new process: forge-ipy models --json from a valid file cache (2,000 models)",
        f"{t_cli * 1000:.0f} ms = {ratio:.2f}x `python -c \"import httpx, pydantic\"` "
        f"({t_base * 1000:.0f} ms); requests made: {network}",
        "< 2x import httpx, pydantic; no network", ratio < 2 and network == 0,
        "benchmarks/run.py (cli_json)")


def bench_complete(repeat: int) -> Figure:
    with serve(latency=0.0) as server, tempfile.TemporaryDirectory() as tmp:
        env = _filled_cache(server, Path(tmp))
        t_complete = _proc_median([str(BIN / "forge-ipy"), "complete", "models", "gpt"], env,
                                  repeat)
        t_pass = _proc_median([sys.executable, "-c", "pass"], env, repeat)
    ratio = t_complete / t_pass
    return Figure(
        "forge-ipy complete models (2,000 cached models)",
        f"{t_complete * 1000:.0f} ms = {ratio:.2f}x `python -c pass` ({t_pass * 1000:.0f} ms)",
        "< 60 ms and < 2x python -c pass", t_complete < 0.060 and ratio < 2,
        "benchmarks/run.py (complete)")


_LOAD_EXT = """
import time
from IPython.core.interactiveshell import InteractiveShell
ip = InteractiveShell.instance()
started = time.perf_counter()
ip.run_line_magic("load_ext", "forge_ipy")
print(time.perf_counter() - started)
"""


def bench_load_ext(repeat: int) -> Figure:
    with serve(latency=0.0) as server, tempfile.TemporaryDirectory() as tmp:
        env = _filled_cache(server, Path(tmp))
        times = [float(subprocess.run([sys.executable, "-c", _LOAD_EXT], env=env, check=True,
                                      capture_output=True, text=True).stdout.strip())
                 for _ in range(repeat)]
    added = statistics.median(times) * 1000
    return Figure("%load_ext forge_ipy in a fresh IPython", f"{added:.1f} ms added",
                  "< 100 ms", added < 100, "benchmarks/run.py (load_ext)")


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
           "complete": bench_complete, "load_ext": bench_load_ext, "memory": bench_memory}


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
    results = {"machine": machine(), "date": time.strftime("%Y-%m-%d"),
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
