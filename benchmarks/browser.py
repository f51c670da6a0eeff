"""Speed in a real Chromium (Debian's, driven by Playwright as tests/browser does).

1. The picker's search with 2,000 models: the real `widget.js` and `widget.css`, given the
   `groups` the kernel would send (`picker_groups` over 2,000 models), on a page of their
   own. Per keystroke: the main thread's script, style and layout time Chromium counts
   (typing narrows: `g`, `gr`, `gro`, `groq-model-01`, `groq-model-011`; Backspace widens
   back to all 2,002 options).
2. `%forge_models` in a real JupyterLab with 2,000 models: Shift+Enter to the frame after
   the table is in the DOM, beside the same for `print('tiny')` (the floor of a round trip
   to the kernel on this machine), and the size of the output a notebook saves (`--lab`;
   starts JupyterLab with tests/browser's helpers, so it takes a minute).

    .venv/bin/python benchmarks/browser.py [--lab] [--screenshot DIR] [--dark]

Prints JSON. Not a test: speed is judged here and written up in BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PROVIDERS = ("openai", "anthropic", "gemini", "openrouter", "groq", "mistral", "deepseek",
             "xai")

# A host page that gives widget.js what anywidget gives it: a model with get/on/off/send.
PAGE = """<!doctype html><html><head><meta charset="utf-8"><style>{css}
body {{ margin: 16px; }} {theme}</style></head><body><div id="host"></div>
<script type="module">
const groups = {groups};
const handlers = {{}};
const model = {{
  get: (name) => ({{groups, value: "", status: "", status_kind: "info", loading: [],
                   busy: false}})[name],
  on: (event, fn) => {{ handlers[event] = fn; }},
  off: () => {{}},
  send: () => {{}},
}};
const source = {js};
const url = URL.createObjectURL(new Blob([source], {{type: "text/javascript"}}));
const widget = (await import(url)).default;
widget.render({{model, el: document.getElementById("host")}});
window.__ready = true;
</script></body></html>"""

DARK = """body { background: #111; color: #ddd; --jp-layout-color0: #111;
--jp-layout-color1: #1e1e1e; --jp-layout-color2: #2a2a2a; --jp-ui-font-color1: #ddd;
--jp-ui-font-color2: #aaa; --jp-border-color1: #555; --jp-error-color1: #ff7070; }"""

# One keystroke: set the search text, let the widget's frame filter and the page paint it.
KEYSTROKE = """async (text) => {
  const search = document.querySelector('.forge-picker-search');
  search.value = text;
  search.dispatchEvent(new Event('input'));
  const frame = () => new Promise((resolve) => requestAnimationFrame(() => resolve()));
  await frame(); await frame();
}"""
# Main-thread work Chromium counts (seconds, cumulative): script, style and layout.
WORK = ("ScriptDuration", "RecalcStyleDuration", "LayoutDuration")


def keystroke_ms(page: Any, cdp: Any, text: str) -> float:
    """The main thread's script, style and layout time for one keystroke, in ms."""
    def work() -> float:
        metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
        return sum(metrics[name] for name in WORK)

    before = work()
    page.evaluate(KEYSTROKE, text)
    return (work() - before) * 1000


def sample_groups(count_per_provider: int = 250) -> list[dict[str, Any]]:
    sys.path.insert(0, str(ROOT))
    from forge_ipy.domain import Model, ModelListing, ProviderStatus
    from forge_ipy.ipython.widget import picker_groups

    models = tuple(
        Model(provider_id=pid, id=f"{pid}-model-{i:04d}", context_length=131072 * (1 + i % 4),
              tools=i % 2 == 0, reasoning=i % 5 == 0, input_price=0.15 * (1 + i % 7),
              output_price=0.6 * (1 + i % 7))
        for pid in PROVIDERS for i in range(count_per_provider))
    statuses = tuple(ProviderStatus(id=pid, name=pid.title(), ok=True) for pid in PROVIDERS)
    listing = ModelListing(models, statuses, frozenset({"groq/groq-model-0001"}))
    return picker_groups(listing, favourites=["openai/openai-model-0002"],
                         recents=["anthropic/anthropic-model-0003"])


def picker_filter(page: Any, screenshot: Path | None, dark: bool) -> dict[str, Any]:
    widget = ROOT / "forge_ipy" / "ipython"
    html = PAGE.format(css=(widget / "widget.css").read_text(), theme=DARK if dark else "",
                       groups=json.dumps(sample_groups()),
                       js=json.dumps((widget / "widget.js").read_text()))
    page.set_content(html)
    page.wait_for_function("() => window.__ready === true")
    cdp = page.context.new_cdp_session(page)
    cdp.send("Performance.enable")
    typed = ("g", "gr", "gro", "groq-model-01", "groq-model-011")
    narrow, widen = [], []
    keystroke_ms(page, cdp, "warm-up")
    keystroke_ms(page, cdp, "")
    for _ in range(5):
        narrow += [keystroke_ms(page, cdp, text) for text in typed]
        widen += [keystroke_ms(page, cdp, text) for text in (*typed[-2::-1], "")]
    if screenshot:
        page.evaluate(KEYSTROKE, "gpt")
        page.evaluate(KEYSTROKE, "")
        page.screenshot(path=str(screenshot / f"picker{'-dark' if dark else ''}.png"))
        page.evaluate(KEYSTROKE, "model-01")
        page.screenshot(path=str(screenshot / f"picker-search{'-dark' if dark else ''}.png"))
    return {"picker_keystroke_narrowing_ms": round(statistics.median(narrow), 1),
            "picker_keystroke_widening_ms": round(statistics.median(widen), 1),
            "picker_keystroke_worst_ms": round(max(narrow + widen), 1),
            "picker_keystroke_first_round_ms": [round(t) for t in narrow[:5] + widen[:5]],
            "options": sum(len(g["options"]) for g in sample_groups())}


def shift_enter_ms(page: Any, cdp: Any, index: int, condition: str) -> tuple[float, Any]:
    """Shift+Enter in cell `index` until `condition` (JS) holds, in ms; with the main
    thread's script, style and layout time over the same span."""
    import time

    def work() -> dict[str, float]:
        return {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}

    cell = page.locator(".jp-Notebook .jp-Cell").nth(index)
    cell.locator(".cm-content").click()
    page.evaluate("""(condition) => { window.__seen = null; const start = performance.now();
        const check = new Function('return ' + condition);
        new MutationObserver((_, observer) => {
          if (check()) { observer.disconnect();
            requestAnimationFrame(() => { window.__seen = performance.now() - start; }); } })
          .observe(document.body, {childList: true, subtree: true}); }""", condition)
    before = work()
    page.keyboard.press("Shift+Enter")
    page.wait_for_function("() => window.__seen !== null", timeout=60_000)
    after = work()
    seen = page.evaluate("() => window.__seen")
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']")
    time.sleep(0.5)
    return seen, {name: round((after[name] - before[name]) * 1000) for name in WORK}


def forge_models_in_lab(page: Any, screenshot: Path | None) -> dict[str, Any]:
    """Shift+Enter on `%forge_models` (2,000 cached models) to the table in the DOM."""
    import tempfile

    sys.path.insert(0, str(ROOT))
    from forge_ipy.testing import LoopbackProviders, sample_models
    from tests.browser.conftest import _start_lab, _stop, _wait_ready
    from tests.browser.test_picker_browser import open_notebook, run_cell, wait_idle

    providers = LoopbackProviders()
    for pid in PROVIDERS:
        providers.add(pid, sample_models(pid, count=250))
    providers.add("ollama")
    providers.start()
    lab = _start_lab(Path(tempfile.mkdtemp(prefix="forge-bench-")), providers, {}, "lab")
    try:
        _wait_ready(lab)
        lab.write_notebook("bench.ipynb", [
            "%load_ext forge_ipy\n%forge_models -p openai", "%forge_models",
            "import time\nfrom forge_ipy.ipython.display import ModelTable\n"
            "t = time.perf_counter()\ndata, _ = get_ipython().display_formatter.format("
            "get_ipython().run_line_magic('forge_models', ''))\n"
            "print(round((time.perf_counter() - t) * 1000), sum(map(len, data.values())))",
            "print('tiny')"])
        open_notebook(page, lab, "bench.ipynb")
        run_cell(page, 0)  # loads the extension and fills the cache
        wait_idle(page)
        cdp = page.context.new_cdp_session(page)
        cdp.send("Performance.enable")
        # 2,000 sample models less the embedding models a default listing leaves out.
        table = "document.querySelectorAll('.jp-Cell:nth-child(2) .forge-models tr').length > 1900"
        tiny = ("[...document.querySelectorAll('.jp-Cell:nth-child(4) .jp-OutputArea-output')]"
                ".some(o => o.textContent.includes('tiny'))")
        runs = [shift_enter_ms(page, cdp, 1, table) for _ in range(3)]
        baseline = [shift_enter_ms(page, cdp, 3, tiny) for _ in range(3)]
        times = [t for t, _ in runs]
        work = [w for _, w in runs]
        run_cell(page, 2)
        kernel_ms, output_chars = page.locator(".jp-Notebook .jp-Cell").nth(2).locator(
            ".jp-OutputArea-output").inner_text().split()
        output = page.locator(".jp-Notebook .jp-Cell").nth(1).locator(".forge-models")
        if screenshot:
            output.evaluate("o => o.scrollIntoView()")
            page.screenshot(path=str(screenshot / "forge-models.png"))
        price = page.evaluate("""() => [...document.querySelectorAll('.forge-models td')]
            .find(td => td.textContent.startsWith('$'))?.textContent""")
        return {"forge_models_in_dom_ms": round(statistics.median(times), 1),
                "forge_models_runs_ms": [round(t) for t in times],
                "print_tiny_in_dom_ms": round(statistics.median(t for t, _ in baseline), 1),
                "forge_models_browser_work_ms": work,
                "forge_models_kernel_ms": int(kernel_ms),
                "forge_models_output_chars": int(output_chars),
                "a_price_cell_reads": price}
    finally:
        _stop(lab)
        providers.stop()


def main() -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lab", action="store_true", help="also time %%forge_models in "
                        "JupyterLab")
    parser.add_argument("--screenshot", type=Path, help="save screenshots in this folder")
    parser.add_argument("--dark", action="store_true", help="picker in dark theme colours")
    options = parser.parse_args()
    results: dict[str, Any] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            results.update(picker_filter(page, options.screenshot, options.dark))
            if options.lab:
                results.update(forge_models_in_lab(page, options.screenshot))
        finally:
            browser.close()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
