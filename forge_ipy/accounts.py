"""The providers as a user meets them: the provider table, logging in and out, the ids.

The provider table: each known provider, whether it is logged in, where its key comes from
(never the key), its API root shown safely, and how its last fetch went. Service layer: the
CLI and the magics ask here rather than the registry or the credential store, so
`forge-ipy providers` and `%forge_providers` show the same rows and say the same things.
No network: a state is what the catalog already knows. Runs on the caller's thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import credentials
from .errors import SettingError
from .providers.registry import ProviderSpec, all_specs, is_logged_in, logged_in, resolve
from .text import printable

if TYPE_CHECKING:
    from .catalog import Catalog
    from .domain import ProviderStatus


@dataclass(frozen=True)
class ProviderRow:
    id: str
    name: str
    logged_in: bool
    # A keyless local server at its default root counts only once it answers (DESIGN.md).
    when_running: bool
    key_source: str  # env:VAR, store, "no key needed" or "not set: VAR or login"
    api_root: str  # without user, password, query or fragment
    status: ProviderStatus | None  # None: not fetched yet, or not logged in

    @property
    def logged_in_text(self) -> str:
        return "if running" if self.when_running else "yes" if self.logged_in else "no"


def provider_rows(catalog: Catalog) -> list[ProviderRow]:
    """Every known provider (built-in, then from config.toml), in table order."""
    listing = catalog.cached()
    rows = []
    for spec in all_specs().values():
        access = resolve(spec)
        if spec.keyless:
            source = "no key needed"
        else:
            source = access.key_source or "not set: " + " or ".join(spec.key_envs or ("login",))
        logged_in = is_logged_in(access)
        rows.append(ProviderRow(
            id=spec.id, name=printable(spec.name), logged_in=logged_in,
            when_running=spec.keyless and not access.root_explicit, key_source=source,
            api_root=safe_root(access.root),
            status=listing.status(spec.id) if logged_in else None))
    return rows


def safe_root(root: str) -> str:
    """`root` as it may be shown: no user or password (a key pasted into a URL), no query
    or fragment (`?api-key=…`), control characters escaped."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(root)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"  # an IPv6 address
        netloc = f"{host}:{parts.port}" if parts.port is not None else host
    except ValueError:  # a port that is not a number: show no more than the scheme
        return printable(root.split("://", 1)[0] + "://…")
    return printable(urlunsplit((parts.scheme, netloc, parts.path, "", "")))


def provider_ids() -> list[str]:
    """Every known provider id: built-ins, then those of config.toml."""
    return list(all_specs())


def known_provider(provider_id: str) -> ProviderSpec:
    """The provider `provider_id`; SettingError naming the known ones otherwise."""
    specs = all_specs()
    if provider_id not in specs:
        raise SettingError(f"unknown provider {provider_id!r}; known: {', '.join(specs)}")
    return specs[provider_id]


def anyone_logged_in(providers: tuple[str, ...] | None = None) -> bool:
    """Whether any provider (of `providers`, when given) is logged in."""
    return bool(logged_in(providers or None))


def not_logged_in(providers: tuple[str, ...]) -> tuple[str, bool]:
    """Why nothing was listed for `providers` (all when empty), and whether that is only a
    local server that is not running (no error, then)."""
    specs = all_specs()
    if providers and all(specs[p].keyless for p in providers if p in specs):
        roots = ", ".join(safe_root(resolve(specs[p]).root) for p in providers if p in specs)
        return (f"{', '.join(providers)} is not running at {roots}; start it, or set "
                "FORGE_<ID>_BASE_URL to where it runs.", True)
    variables = [v for p in providers if p in specs for v in specs[p].key_envs[:1]]
    which = ", ".join(providers) if providers else "any provider"
    example = " or ".join(variables) if variables else "a key such as OPENAI_API_KEY"
    login = providers[0] if len(providers) == 1 else "PROVIDER"
    return (f"not logged in to {which}. Set {example}, or run `forge-ipy login {login}`; "
            "`forge-ipy providers` lists them.", False)


def login(provider_id: str, key: str) -> ProviderSpec:
    """Save `key` for `provider_id` in the credential store (mode 0600)."""
    spec = known_provider(provider_id)
    credentials.save_key(spec.id, key)
    return spec


def logout(provider_id: str) -> tuple[ProviderSpec, bool]:
    """Forget the saved key of `provider_id`; whether there was one."""
    spec = known_provider(provider_id)
    return spec, credentials.delete_key(spec.id)
