"""`forge_ipy.picker()` inside a marimo app: `mo.ui.anywidget(forge_ipy.picker())`, the
recipe the README gives, run headlessly with marimo's own API."""

from __future__ import annotations

import pytest

marimo = pytest.importorskip("marimo")

APP = '''
import marimo

app = marimo.App()


@app.cell
def _():
    import marimo as mo

    import forge_ipy

    picker = mo.ui.anywidget(forge_ipy.picker())
    picker
    return (picker,)


@app.cell
def _(picker):
    picker.widget.wait(30)
    groups = [g["id"] for g in picker.widget.groups]
    return (groups,)
'''


def test_the_picker_runs_inside_a_marimo_app(loopback, serve, tmp_path, monkeypatch):
    loopback.add("openai")
    loopback.add("anthropic")
    serve()
    path = tmp_path / "forge_app.py"
    path.write_text(APP, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    from forge_app import app  # type: ignore[import-not-found]

    outputs, defs = app.run()
    from forge_ipy.ipython.widget import ModelPicker

    assert isinstance(defs["picker"], marimo.ui.anywidget)
    assert isinstance(defs["picker"].widget, ModelPicker)
    assert defs["groups"] == ["anthropic", "openai"]
    # The cell's output is the widget itself, drawn by marimo's anywidget front end.
    assert defs["picker"] in outputs
