"""`%forge_models`, `%forge_select`, `%forge_providers`, `%forge_cache`, and `%config ForgeMagics`.

Settings are traits, so `%config ForgeMagics.model_cache_strategy = "fresh"` works and takes
effect on the next call; unset traits fall through to the environment and config.toml.
User mistakes raise UsageError: one line, no traceback.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display
from traitlets import Float, TraitError, Unicode, validate

from ..errors import ForgeError, describe_os_error
from ..settings import SETTING_NAMES
from ..settings import validate as validate_setting
from ..text import printable

# Where the magics point a person for the provider table.
_LISTER = "%forge_providers"


def _in_notebook(shell: Any) -> bool:
    return shell is not None and shell.has_trait("kernel")


class _Seconds(Float):
    """A float setting that refuses True/False (traitlets would take True as 1.0)."""

    def validate(self, obj: Any, value: Any) -> Any:
        if isinstance(value, bool):
            self.error(obj, value)
        return super().validate(obj, value)


@magics_class
class ForgeMagics(Magics):
    """forge-ipy's magics. Each setting here overrides the environment and config.toml."""

    model_cache_strategy = Unicode(
        None, allow_none=True, config=True,
        help="aggressive: cached lists never expire; moderate: they expire after the TTL; "
             "fresh: always fetch, cache only as a fallback.")
    model_cache_ttl_seconds = _Seconds(
        None, allow_none=True, config=True, help="TTL in seconds for `moderate`.")
    model_cache_refresh = Unicode(
        None, allow_none=True, config=True,
        help="On expiry: background serves the stale list at once and refreshes behind it; "
             "block waits for the fresh one.")
    provider_timeout_seconds = _Seconds(
        None, allow_none=True, config=True,
        help="The most one provider may take, all pages included.")
    model_facts_url = Unicode(
        None, allow_none=True, config=True,
        help="Where the live catalog of model facts comes from (models.dev's api.json "
             "shape); off: the bundled snapshot only.")
    chat_timeout_seconds = _Seconds(
        None, allow_none=True, config=True, help="The most one %%forge reply may take.")

    @validate(*SETTING_NAMES)
    def _validate_setting(self, proposal: dict[str, Any]) -> Any:
        value, name = proposal["value"], proposal["trait"].name
        if value is None:
            return None
        try:
            return validate_setting(name, value, "%config")
        except ForgeError as exc:
            raise TraitError(str(exc)) from None

    def settings(self) -> dict[str, object]:
        """The settings made with %config (unset ones fall through)."""
        return {n: getattr(self, n) for n in SETTING_NAMES if getattr(self, n) is not None}

    # -- %forge_models ------------------------------------------------------------------
    @magic_arguments()
    @argument("-p", "--provider", action="append", metavar="ID",
              help="only this provider (repeatable); limits the fetch too")
    @argument("--refresh", action="store_true", help="fetch now, whatever the cache holds")
    @argument("--tools", action="store_true", help="only models known to support tool calling")
    @argument("--all", action="store_true", help="every kind of model (embedding, image, "
              "audio, ...) and retired ones, with a kind column; by default only chat models")
    @argument("-s", "--search", metavar="TEXT",
              help="only models whose provider/model or display name contains TEXT")
    @line_magic
    def forge_models(self, line: str) -> Any:
        """Every model of every logged-in provider, grouped by provider, with provider states.

        Returns a table that also iterates and filters as models (`.filter(text, tools=True)`).
        """
        from .display import ModelTable

        args = _parse(self.forge_models, line)
        listing = self._fetch(args.provider, refresh=args.refresh)
        if not listing.providers:
            raise UsageError(_not_logged_in(args.provider))
        listing = listing.filter(args.search, tools=True if args.tools else None,
                                 all_kinds=args.all)
        return ModelTable(listing, all_kinds=args.all)

    # -- %forge_select ------------------------------------------------------------------
    @magic_arguments()
    @argument("name", nargs="?", metavar="PROVIDER/MODEL",
              help="provider/model, or a bare model id offered by one provider only; "
                   "without it, a picker opens")
    @line_magic
    def forge_select(self, line: str) -> Any:
        """Make a model active; a model of another provider switches the provider too.

        Prints `Switched to model: <model> on provider: <Provider>`.
        """
        args = _parse(self.forge_select, line)
        name = args.name
        if not name:
            if _in_notebook(self.shell):
                from .widget import ModelPicker

                return ModelPicker(catalog=self._catalog(), settings=self.settings())
            name = self._choose_in_terminal()
            if name is None:
                return None
        with _user_errors():
            print(printable(self._catalog().select(name, settings=self.settings()).message))
        return None

    def _choose_in_terminal(self) -> str | None:
        if not _has_terminal():
            raise UsageError("give a model: %forge_select PROVIDER/MODEL (no terminal here to "
                             "open the chooser in); %forge_models lists them")
        from .chooser import choose_model

        catalog = self._catalog()
        listing = self._fetch(None, refresh=False)
        if not listing.providers:
            raise UsageError(_not_logged_in(None))
        current = catalog.current()
        return choose_model(listing.filter(), current.full_name if current else None,
                            favourites=catalog.favourites(), recents=catalog.recents())

    # -- %forge_providers ---------------------------------------------------------------
    @line_magic
    def forge_providers(self, line: str) -> Any:
        """Every known provider: logged in or not, key source (never the key), API root, state."""
        from ..accounts import provider_rows
        from ..formatting import format_providers
        from .display import TextBlock

        if line.strip():
            raise UsageError("%forge_providers takes no arguments; %forge_models -p ID "
                             "lists one provider's models")

        with _user_errors():
            rows = provider_rows(self._catalog())
        table = format_providers(rows, time.time())
        if not any(r.logged_in and r.key_source != "no key needed" for r in rows):
            table += f"\n\n{_not_logged_in(None)}"
        return TextBlock(table)

    # -- %forge_cache -------------------------------------------------------------------
    @magic_arguments()
    @argument("action", nargs="?", default="stats", choices=["stats", "clear", "refresh"],
              help="stats (default): counters and entries; clear: forget lists; refresh: "
                   "fetch now")
    @argument("-p", "--provider", action="append", metavar="ID",
              help="only this provider (repeatable)")
    @line_magic
    def forge_cache(self, line: str) -> Any:
        """Cache diagnostics (hits, misses, stale serves, refreshes, errors, entries), or
        clear / refresh the cached lists."""
        from ..formatting import cleared_summary, format_cache_stats, refresh_summary
        from .display import TextBlock

        args = _parse(self.forge_cache, line)
        catalog = self._catalog()
        if args.action == "clear":
            with _user_errors():
                cleared = catalog.clear_cache(args.provider)
            return TextBlock(cleared_summary(cleared))
        if args.action == "refresh":
            listing = self._fetch(args.provider, refresh=True)
            if not listing.providers:
                raise UsageError(_not_logged_in(args.provider))
            return TextBlock(refresh_summary(listing))
        return TextBlock(format_cache_stats(catalog.stats(), time.time(), "this kernel"))

    # -- %%forge ------------------------------------------------------------------------
    @magic_arguments()
    @argument("name", nargs="?", metavar="PROVIDER/MODEL",
              help="this model for this cell only (the selection does not change)")
    @argument("-c", "--continue", dest="continue_", action="store_true",
              help="continue this kernel's conversation with that model")
    @argument("--system", metavar="TEXT", help="a system prompt")
    @argument("--max-tokens", type=int, metavar="N", help="the most tokens the reply may have")
    @argument("--temperature", type=float, metavar="T", help="sampling temperature, 0 to 2")
    @argument("--format", choices=["markdown", "text", "code"], default="markdown",
              help="show the reply as Markdown (default), plain text, or a code block")
    @cell_magic
    def forge(self, line: str, cell: str) -> None:
        """Send the cell to the selected model; the reply streams in, then the footer
        (model · tokens in · out · cost · seconds). `{name}` is replaced by that variable."""
        from .forge_cell import run

        run(self, _parse(self.forge, line), cell)

    # -- shared -------------------------------------------------------------------------
    def _catalog(self) -> Any:
        from ..catalog import get_catalog

        return get_catalog()

    def _fetch(self, providers: list[str] | None, *, refresh: bool) -> Any:
        """The listing, showing per-provider progress while a fetch is under way."""
        from .display import TextBlock, progress_text

        latest: list[tuple[Any, tuple[str, ...]]] = []
        with _user_errors():
            future = self._catalog().start(providers, refresh=refresh,
                                           on_update=lambda *update: latest.append(update),
                                           settings=self.settings())
            handle, shown = None, 0
            while True:
                try:
                    listing = future.result(timeout=0.1)
                    break
                except TimeoutError:  # still fetching: draw progress here, not on the loop
                    if len(latest) > shown:
                        shown = len(latest)
                        handle = self._show_progress(handle, TextBlock(progress_text(*latest[-1])))
        if handle is not None and _in_notebook(self.shell):
            handle.update({"text/plain": ""}, raw=True)  # the table replaces the progress
        return listing

    def _show_progress(self, handle: Any, text: Any) -> Any:
        if _in_notebook(self.shell):
            if handle is None:
                return display(text, display_id=True)
            handle.update(text)
            return handle
        print(text.text)
        return True


def _not_logged_in(providers: list[str] | None) -> str:
    """The CLI's words for "nobody logged in", pointing at `%forge_providers`."""
    from ..accounts import not_logged_in

    return not_logged_in(tuple(providers or ()), _LISTER)[0]


def _has_terminal() -> bool:
    """Whether the chooser can take the keyboard: a kernel without widgets, or IPython fed
    by a pipe, has no terminal."""
    import sys

    return sys.stdin.isatty() and sys.stdout.isatty()


def _parse(magic: Any, line: str) -> Any:
    """The magic's arguments, unquoted as a shell would (`-s "two words"`, `'openai/gpt-4o'`);
    an unclosed quote is a UsageError."""
    try:
        args = parse_argstring(magic, line)
    except ValueError as exc:
        raise UsageError(f"cannot read {line.strip()!r}: {exc}") from None
    for name, value in vars(args).items():
        if isinstance(value, str):
            setattr(args, name, _unquote(value))
        elif isinstance(value, list):
            setattr(args, name, [_unquote(v) if isinstance(v, str) else v for v in value])
    return args


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


@contextlib.contextmanager
def _user_errors() -> Iterator[None]:
    """Turn forge-ipy's errors into UsageError: one line, no traceback."""
    try:
        yield
    except ForgeError as exc:  # may quote a model id: never a raw control character
        raise UsageError(printable(exc)) from None
    except OSError as exc:
        raise UsageError(describe_os_error(exc)) from None
