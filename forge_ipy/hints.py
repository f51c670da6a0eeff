"""What to tell a person when there is nothing to show: the same words from the CLI and the
magics (service layer: reads the provider table, never the network)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the magics import this module at %load_ext: keep pydantic off that path
    from .domain import ModelListing


def nobody_logged_in(providers: Sequence[str] = (),
                     lister: str = "`forge-ipy providers`") -> str:
    """Why no provider was asked, and how to fix it: `not logged in to any provider. Set a key
    such as OPENAI_API_KEY, or run `forge-ipy login PROVIDER`; …`."""
    from .providers.registry import all_specs, resolve

    specs = all_specs()
    if providers and all(specs[p].keyless for p in providers if p in specs):
        roots = ", ".join(resolve(specs[p]).root for p in providers if p in specs)
        return (f"{', '.join(providers)} is not running at {roots}; start it, or set "
                "FORGE_<ID>_BASE_URL to where it runs.")
    variables = [v for p in providers if p in specs for v in specs[p].key_envs[:1]]
    which = ", ".join(providers) if providers else "any provider"
    example = " or ".join(variables) if variables else "a key such as OPENAI_API_KEY"
    login = providers[0] if len(providers) == 1 else "PROVIDER"
    return (f"not logged in to {which}. Set {example}, or run `forge-ipy login {login}`; "
            f"{lister} lists them.")


def every_provider_failed(listing: ModelListing) -> str | None:
    """`every provider failed: openai: HTTP 401 …; groq: cannot reach …`, or None when some
    provider has models to show (or none was asked)."""
    if not listing.providers or listing.models:
        return None
    causes = "; ".join(f"{p.id}: {p.error}" for p in listing.providers if p.error)
    return f"every provider failed: {causes}" if causes else None
