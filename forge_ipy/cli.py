"""The `forge-ipy` command: list, pick and inspect models of every logged-in provider.

`forge-ipy complete …` is answered before anything heavy is imported: shell completion
runs it on every Tab.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence

# typing is not imported at run time: shell completion starts in this module.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["complete"]:
        from .complete import main as complete_main

        return complete_main(args[1:])
    parser = build_parser()
    options = parser.parse_args(args)
    if not hasattr(options, "run"):
        parser.print_help()
        return 0
    from .errors import ForgeError, describe_os_error
    from .text import printable

    try:
        return options.run(options)
    except ForgeError as exc:  # may quote a model id: never a raw control character
        print(f"forge-ipy: {printable(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `forge-ipy models | head`: the reader left, nothing to report
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:  # a folder that is a file, a read-only disk: say which, briefly
        print(f"forge-ipy: {describe_os_error(exc)}", file=sys.stderr)
        return 1


EPILOG = """settings (environment > config.toml > default):
  FORGE_MODEL_CACHE_STRATEGY      aggressive | moderate | fresh        (moderate)
  FORGE_MODEL_CACHE_TTL_SECONDS   TTL for moderate                      (3600)
  FORGE_MODEL_CACHE_REFRESH       background | block, on expiry         (background)
  FORGE_PROVIDER_TIMEOUT_SECONDS  the most one provider may take        (10)
  FORGE_CHAT_TIMEOUT_SECONDS      the most one chat reply may take      (120)

files: config.toml, credentials.json and state.json in the config folder
($FORGE_IPY_CONFIG_DIR); models.json in the cache folder ($FORGE_IPY_CACHE_DIR).
API roots: FORGE_<ID>_BASE_URL. Keys: OPENAI_API_KEY and the like, or `forge-ipy login`.

In IPython or Jupyter: %load_ext forge_ipy, then %forge_models and %forge_select."""


def build_parser() -> argparse.ArgumentParser:
    import argparse

    parser = argparse.ArgumentParser(
        prog="forge-ipy",
        description="See every model of every LLM provider you are logged in to, and pick one.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"forge-ipy {_version()}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    def command(name: str, run: Any, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(run=run)
        return p

    p = command("models", cmd_models, "List the models of every logged-in provider, "
                "sorted by provider then model.")
    p.add_argument("-p", "--provider", action="append", metavar="ID",
                   help="only this provider (repeatable); limits the fetch and the output")
    p.add_argument("--refresh", action="store_true", help="fetch now, whatever the cache holds")
    p.add_argument("-s", "--search", metavar="TEXT",
                   help="only models whose provider/model or display name contains TEXT")
    p.add_argument("--tools", action="store_true",
                   help="only models known to support tool calling")
    p.add_argument("--all", action="store_true", help="every kind of model (embedding, image, "
                   "audio, ...) and retired ones, with a kind column; by default only chat "
                   "models")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help='print {"models": [...], '
                     '"providers": [...]}')
    fmt.add_argument("--porcelain", action="store_true",
                     help="tab-separated with a header row, for scripts")

    p = command("providers", cmd_providers, "Show every known provider: logged in or not, "
                "where its key comes from (never the key), and its API root.")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = command("select", cmd_select, "Make a model active: provider/model, or a bare model "
                "id when only one provider offers it. Switches the provider too. Without "
                "a name, on a terminal, a chooser opens.")
    p.add_argument("name", metavar="PROVIDER/MODEL", nargs="?")

    p = command("current", cmd_current, "Print the active provider and model.")
    p.add_argument("--json", action="store_true",
                   help='print {"provider_id": ..., "model": ...} or null')

    p = command("chat", cmd_chat, "Send a prompt to the selected model (or PROVIDER/MODEL, "
                "for this call only): the reply streams to stdout, the footer (tokens, cost, "
                "seconds) to stderr.")
    p.add_argument("words", nargs="*", metavar="[PROVIDER/MODEL] [PROMPT]",
                   help="the model, then the prompt; without a prompt it is read from "
                   "standard input: forge-ipy chat < question.md > answer.md")
    p.add_argument("--system", metavar="TEXT", help="a system prompt")
    p.add_argument("--max-tokens", type=int, metavar="N", help="the most tokens the reply "
                   "may have")
    p.add_argument("--temperature", type=float, metavar="T", help="sampling temperature, "
                   "0 to 2")

    p = command("login", cmd_login, "Save a provider's API key in the credential store "
                "(mode 0600), then check it by listing the provider's models. The key is read "
                "without echo, or from standard input.")
    p.add_argument("provider", metavar="PROVIDER")
    p.add_argument("--no-check", action="store_true",
                   help="save without asking the provider whether the key works")

    p = command("logout", cmd_logout, "Remove a provider's key from the credential store.")
    p.add_argument("provider", metavar="PROVIDER")

    cache = command("cache", None, "Inspect or reset the model cache.")
    cache_sub = cache.add_subparsers(title="cache commands", metavar="ACTION", required=True)

    def cache_command(name: str, run: Any, help_text: str) -> argparse.ArgumentParser:
        p = cache_sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(run=run)
        return p

    p = cache_command("stats", cmd_cache_stats, "The cache file's path and size, and each "
                      "provider's entry: model count, bytes and age, and the hits, misses, "
                      "stale serves, refreshes and errors counted by every process.")
    p.add_argument("--json", action="store_true", help="print JSON")
    p = cache_command("clear", cmd_cache_clear, "Forget cached lists, in this process and "
                      "in the shared file: all, or these providers'.")
    p.add_argument("-p", "--provider", action="append", metavar="ID",
                   help="only this provider (repeatable)")
    p = cache_command("refresh", cmd_cache_refresh, "Fetch every logged-in provider (or these) "
                      "now and store the lists.")
    p.add_argument("-p", "--provider", action="append", metavar="ID",
                   help="only this provider (repeatable)")
    p.add_argument("--quiet", action="store_true", help="print nothing (background use)")

    p = command("completion", cmd_completion, "Print the shell completion script: "
                "eval \"$(forge-ipy completion zsh)\" in ~/.zshrc.")
    p.add_argument("shell", choices=["zsh", "bash"])
    sub.add_parser("complete", help="(used by the completion scripts) print completions "
                   "from the cache: complete models|providers [PREFIX]")
    return parser


# -- commands --------------------------------------------------------------------------
def cmd_models(options: argparse.Namespace) -> int:
    from .accounts import anyone_logged_in
    from .catalog import get_catalog
    from .domain import ModelListing
    from .formatting import (
        MODEL_COLUMNS,
        MODEL_COLUMNS_ALL,
        format_table,
        listing_json,
        model_row,
        models_summary,
        porcelain_lines,
    )

    catalog = get_catalog()
    providers = tuple(options.provider or ())
    listing = ModelListing((), ())
    if anyone_logged_in(providers):
        listing = catalog.get_all_models(providers or None, refresh=options.refresh)
        catalog.wait_background(timeout=_background_budget())
    listing = listing.filter(options.search, tools=True if options.tools else None,
                             all_kinds=options.all)
    # No provider at all: nobody logged in, or only Ollama at its default root, not running
    # (it counts as logged in until probed). Scripts still get a document they can parse.
    nobody = not listing.providers
    if options.json:
        _print_json(listing_json(listing, time.time()))
    elif options.porcelain:
        print("\n".join(porcelain_lines(listing)))
    elif not nobody:
        if listing.models:  # a header over no rows says nothing the summary does not
            columns = MODEL_COLUMNS_ALL if options.all else MODEL_COLUMNS
            print(format_table(columns, [model_row(m, options.all) for m in listing]))
        print(f"\n{models_summary(listing)}", file=sys.stderr)
    if nobody:
        return _nobody_logged_in(providers)
    _report_new(listing)
    _report_failures(listing)
    failed = [p for p in listing.providers if not p.ok]
    return 1 if failed and not listing.models else 0


def _print_json(document: object) -> None:
    """Indented for a person at a terminal; one compact line for a pipe (json's C encoder
    only runs without indentation, 15x faster on 2,000 models)."""
    from .files import to_json

    print(to_json(document, indent=2 if sys.stdout.isatty() else None))


def _nobody_logged_in(providers: tuple[str, ...]) -> int:
    from .accounts import not_logged_in

    message, _ = not_logged_in(providers)
    print(f"forge-ipy: {message}", file=sys.stderr)
    return 0


def _version() -> str:
    from . import __version__

    return __version__


def _report_new(listing: Any) -> None:
    from .formatting import new_models

    added = new_models(listing)
    if added:
        print(added, file=sys.stderr)


def _report_failures(listing: Any) -> None:
    from .formatting import format_status

    now = time.time()
    for status in listing.providers:
        if status.error:
            print(f"{status.id}: {format_status(status, now)}", file=sys.stderr)


def _background_budget() -> float:
    from .settings import resolve_settings

    return resolve_settings().provider_timeout_seconds + 1.0


def cmd_providers(options: argparse.Namespace) -> int:
    from .accounts import provider_rows
    from .catalog import get_catalog
    from .formatting import format_providers, providers_json

    rows = provider_rows(get_catalog())
    if options.json:
        _print_json(providers_json(rows, time.time()))
    else:
        print(format_providers(rows, time.time()))
    return 0


def cmd_select(options: argparse.Namespace) -> int:
    from .catalog import get_catalog
    from .text import printable

    catalog = get_catalog()
    name = options.name or _choose(catalog)
    if name is None:
        return 1  # cancelled: nothing changed
    print(printable(catalog.select(name).message))
    catalog.wait_background(timeout=_background_budget())
    return 0


def _choose(catalog: Any) -> str | None:
    """The terminal chooser %forge_select opens in IPython; a usage error without a terminal."""
    from .accounts import not_logged_in
    from .errors import SelectionError

    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise SelectionError("give a model, e.g. `forge-ipy select openai/gpt-4o` (the "
                             "chooser needs a terminal); `forge-ipy models` lists them")
    listing = catalog.get_all_models()
    if not listing.providers:
        raise SelectionError(not_logged_in()[0])
    from .ipython.chooser import choose_model

    current = catalog.current()
    return choose_model(listing, current.full_name if current else None,
                        favourites=catalog.favourites(), recents=catalog.recents())


def cmd_current(options: argparse.Namespace) -> int:
    from .state import load_state

    selection = load_state().selection
    if options.json:
        payload = selection and {"provider_id": selection.provider_id, "model": selection.model}
        _print_json(payload)
    elif selection is None:
        print("No model selected yet: run `forge-ipy select PROVIDER/MODEL`.", file=sys.stderr)
    else:
        from .text import printable

        print(printable(selection.full_name))
    return 0


def cmd_chat(options: argparse.Namespace) -> int:
    from .chat.service import ReplyStream, prepare
    from .text import printable

    name, prompt = _chat_words(options.words)
    if prompt is None:
        if sys.stdin.isatty():
            print("forge-ipy: give a prompt: forge-ipy chat [PROVIDER/MODEL] \"PROMPT\", or "
                  "pipe it in: forge-ipy chat < question.md", file=sys.stderr)
            return 2
        prompt = sys.stdin.read()
    params = {k: v for k, v in (("max_tokens", options.max_tokens),
                                ("temperature", options.temperature)) if v is not None}
    replies = ReplyStream(prepare(prompt, model=name, system=options.system, **params))
    interrupted = False
    try:
        for delta in replies:
            sys.stdout.write(printable(delta, lines=True))
            sys.stdout.flush()
    except KeyboardInterrupt:
        replies.close()  # keep what arrived; the footer says it was cut short
        interrupted = True
    finally:
        sys.stdout.write("\n")
        sys.stdout.flush()
    print(replies.reply.footer(), file=sys.stderr)
    return 130 if interrupted else 0


def _chat_words(words: list[str]) -> tuple[str | None, str | None]:
    """(model, prompt) from the positional words: a first word naming a known provider's
    model (`openai/gpt-4o`, no spaces) is the model; the rest is the prompt."""
    from .accounts import provider_ids

    if words and " " not in words[0] and words[0].partition("/")[0] in provider_ids() \
            and "/" in words[0]:
        return words[0], " ".join(words[1:]) or None
    return None, " ".join(words) or None


def cmd_login(options: argparse.Namespace) -> int:
    import getpass

    from .accounts import environment_key, known_provider, login

    spec = known_provider(options.provider)
    if spec.keyless:
        print(f"{spec.name} needs no key.", file=sys.stderr)
        return 0
    if spec.uses_aws:
        print(f"forge-ipy: {spec.name} signs with the AWS chain, not a key: set "
              "AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; and AWS_REGION.",
              file=sys.stderr)
        return 1
    if sys.stdin.isatty():
        key = getpass.getpass(f"{spec.name} API key (input hidden): ")
    else:
        key = sys.stdin.readline()
    key = key.strip()
    if not key:
        print("forge-ipy: no key given; nothing saved.", file=sys.stderr)
        return 1
    login(spec.id, key)
    print(f"Saved the {spec.name} key.")
    variable = environment_key(spec)
    if variable:
        print(f"Note: {variable} is set in this environment and is used instead of the saved "
              f"key; unset it to use the saved one.", file=sys.stderr)
    return 0 if options.no_check else _check_key(spec, variable or "the saved key")


def _check_key(spec: Any, which: str) -> int:
    """List the provider's models with the key in force, through the service; never echo it."""
    from .catalog import get_catalog
    from .formatting import format_count

    status = get_catalog().refresh([spec.id]).status(spec.id)
    if status is not None and status.ok:
        print(f"Checked {which}: it works ({format_count(status.model_count, 'model')}).")
        return 0
    reason = status.error if status is not None else "no answer"
    print(f"forge-ipy: checked {which}, and {spec.name} refused or failed: {reason}. "
          f"Run `forge-ipy login {spec.id}` again with a working key.", file=sys.stderr)
    return 1


def cmd_logout(options: argparse.Namespace) -> int:
    from .accounts import logout

    spec, had_key = logout(options.provider)
    if had_key:
        print(f"Removed the saved {spec.name} key.")
    else:
        print(f"No saved {spec.name} key (keys set in the environment stay in force).")
    return 0


def cmd_cache_stats(options: argparse.Namespace) -> int:
    from .catalog import get_catalog
    from .formatting import format_cache_stats

    stats = get_catalog().stats()
    if options.json:
        _print_json(stats)
    else:  # this process only asked for the stats: its own counters are all zero
        print(format_cache_stats(stats, time.time(), process=None))
    return 0


def cmd_cache_clear(options: argparse.Namespace) -> int:
    from .catalog import get_catalog
    from .formatting import cleared_summary

    cleared = get_catalog().clear_cache(options.provider)
    print(cleared_summary(cleared))
    return 0


def cmd_cache_refresh(options: argparse.Namespace) -> int:
    import contextlib

    from .catalog import get_catalog
    from .formatting import refresh_summary
    from .settings import cache_dir

    marker = cache_dir() / "refresh.started"  # set by shell completion when it spawned us

    def release() -> None:
        with contextlib.suppress(OSError):
            marker.unlink()

    try:
        listing = get_catalog().refresh(options.provider)
    except BaseException:
        release()
        raise
    # A provider that failed keeps the marker until it expires, so completion retries it
    # once a minute rather than on every Tab.
    if all(p.ok for p in listing.providers):
        release()
    if options.quiet:
        return 0
    if not listing.providers:  # nobody logged in (or only Ollama, not running)
        return _nobody_logged_in(tuple(options.provider or ()))
    print(refresh_summary(listing))
    _report_failures(listing)
    return 0


def cmd_completion(options: argparse.Namespace) -> int:
    from .complete import completion_script

    sys.stdout.write(completion_script(options.shell))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
