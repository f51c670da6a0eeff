"""Offline demo: the quickstart notebook's first cell.

`start_offline_demo_if_no_keys()` leaves everything alone when a provider key is found.
Otherwise it starts the loopback providers of `forge_ipy.testing` (every built-in provider with
its sample models, on 127.0.0.1), points this process at them, and moves the config and cache
folders to a new temporary folder, so a demo never touches your real selection, cache or
saved keys::

    from forge_ipy.demo import start_offline_demo_if_no_keys

    server = start_offline_demo_if_no_keys()   # keep the reference while you use it

Child processes (`!forge-ipy models` in a notebook) inherit the variables and see the demo too.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

from .testing import LoopbackProviders

__all__ = ["found_keys", "start_offline_demo_if_no_keys"]


def found_keys() -> list[str]:
    """Where provider keys were found: `env:VARIABLE` or `store:PROVIDER`, never a key.

    Looks at every provider's key variables (DESIGN.md's table, and `api_key_env` of custom
    providers in `config.toml`) and at the credential store written by `forge-ipy login`.
    """
    from .errors import ForgeError
    from .providers.registry import BUILTINS, all_specs, resolve

    try:
        specs = list(all_specs().values())
    except ForgeError:  # an invalid config.toml: still look at the built-in variables
        specs = list(BUILTINS)
    sources = []
    for spec in specs:
        if spec.keyless:
            continue
        try:
            source = resolve(spec).key_source
        except ForgeError:  # unreadable credential store: the environment alone counts
            source = next((f"env:{var}" for var in spec.key_envs
                           if os.environ.get(var, "").strip()), None)
        if source is not None:
            sources.append(source if source.startswith("env:") else f"store:{spec.id}")
    return sources


def start_offline_demo_if_no_keys(*, verbose: bool = True) -> LoopbackProviders | None:
    """Start offline demo providers when no provider key is set; say which it did.

    With no key found (see `found_keys`): starts `LoopbackProviders.default()`, puts its
    variables (`FORGE_<ID>_BASE_URL` roots on 127.0.0.1 and test keys) into `os.environ`, sets
    `FORGE_IPY_CONFIG_DIR` and `FORGE_IPY_CACHE_DIR` to a new temporary folder (removed at
    exit) and `FORGE_MODEL_FACTS_URL` to `off`, and returns the running server: keep a
    reference to it. With a key found: changes nothing and returns None. `verbose` prints one
    sentence saying which happened and why.
    """
    sources = found_keys()
    if sources:
        if verbose:
            print(f"Real provider keys found ({', '.join(sources)}): using your providers, "
                  "your config and your cache.")
        return None
    server = LoopbackProviders.default()
    atexit.register(server.stop)
    folder = tempfile.mkdtemp(prefix="forge-ipy-demo-")
    atexit.register(shutil.rmtree, folder, True)
    os.environ.update(server.env())
    os.environ["FORGE_IPY_CONFIG_DIR"] = os.path.join(folder, "config")
    os.environ["FORGE_IPY_CACHE_DIR"] = os.path.join(folder, "cache")
    os.environ["FORGE_MODEL_FACTS_URL"] = "off"  # offline: the bundled model facts serve
    if verbose:
        print(f"No provider key found (no OPENAI_API_KEY, ANTHROPIC_API_KEY, ... and nothing "
              f"saved with `forge-ipy login`), so this session uses offline demo providers on "
              f"127.0.0.1 ({server.base_url}) with sample models, and a temporary config and "
              f"cache folder ({folder}). Set a key and restart the kernel to see your own.")
    return server
