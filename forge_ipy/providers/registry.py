"""The provider table of DESIGN.md, custom endpoints from `config.toml`, and who is logged in.

Built-in providers and custom ones are rows of the same table. Standard library only, so
shell completion can tell which cache entries are still valid without importing httpx.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from ..credentials import STORE_NAME, fingerprint, load_store
from ..errors import SettingError
from ..places import aws_files
from ..settings import config_dir, file_stamp, load_config
from ..text import printable
from .credential import AWS_VARIABLES, Credential, find_aws, find_key

# Groq and Mistral speak the OpenAI shape with extra fields, which the openai module reads.
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
WIRES = ("openai", "anthropic", "gemini", "openrouter", "together", "ollama", "azure", "bedrock",
         "litellm")
# Wires whose requests are signed with the AWS chain's credentials rather than a key.
AWS_WIRES = ("bedrock",)
# The chat shape (forge_ipy/chat/<shape>.py) each list shape's providers answer in; a wire
# not named here speaks OpenAI's, as the gateways do.
CHAT_SHAPES = {"anthropic": "anthropic", "gemini": "gemini", "ollama": "ollama"}


@dataclass(frozen=True)
class ProviderSpec:
    """One row of the provider table."""

    id: str
    name: str
    wire: str
    default_root: str
    key_envs: tuple[str, ...] = ()
    # SDK variables naming the API root, each with the suffix that makes it ours (e.g. `/v1`).
    sdk_root_envs: tuple[tuple[str, str], ...] = ()
    keyless: bool = False
    # The chat column: which chat shape the provider answers; derived from `wire` when empty.
    chat_wire: str = ""

    def __post_init__(self) -> None:
        if not self.chat_wire:
            object.__setattr__(self, "chat_wire", CHAT_SHAPES.get(self.wire, "openai"))

    @property
    def uses_aws(self) -> bool:
        return self.wire in AWS_WIRES


BUILTINS: tuple[ProviderSpec, ...] = (
    ProviderSpec("openai", "OpenAI", "openai", "https://api.openai.com/v1",
                 ("OPENAI_API_KEY",), (("OPENAI_BASE_URL", ""),)),
    ProviderSpec("anthropic", "Anthropic", "anthropic", "https://api.anthropic.com/v1",
                 ("ANTHROPIC_API_KEY",), (("ANTHROPIC_BASE_URL", "/v1"),)),
    ProviderSpec("gemini", "Google Gemini", "gemini",
                 "https://generativelanguage.googleapis.com/v1beta",
                 ("GEMINI_API_KEY", "GOOGLE_API_KEY")),
    ProviderSpec("openrouter", "OpenRouter", "openrouter", "https://openrouter.ai/api/v1",
                 ("OPENROUTER_API_KEY",)),
    ProviderSpec("groq", "Groq", "openai", "https://api.groq.com/openai/v1", ("GROQ_API_KEY",)),
    ProviderSpec("mistral", "Mistral", "openai", "https://api.mistral.ai/v1",
                 ("MISTRAL_API_KEY",)),
    ProviderSpec("deepseek", "DeepSeek", "openai", "https://api.deepseek.com/v1",
                 ("DEEPSEEK_API_KEY",)),
    ProviderSpec("xai", "xAI", "openai", "https://api.x.ai/v1", ("XAI_API_KEY",)),
    ProviderSpec("together", "Together AI", "together", "https://api.together.xyz/v1",
                 ("TOGETHER_API_KEY",)),
    ProviderSpec("fireworks", "Fireworks AI", "openai", "https://api.fireworks.ai/inference/v1",
                 ("FIREWORKS_API_KEY",)),
    ProviderSpec("cerebras", "Cerebras", "openai", "https://api.cerebras.ai/v1",
                 ("CEREBRAS_API_KEY",)),
    ProviderSpec("ollama", "Ollama", "ollama", "http://localhost:11434", (),
                 (("OLLAMA_HOST", ""),), keyless=True),
    # No default root: each Azure OpenAI resource has its own endpoint.
    ProviderSpec("azure", "Azure OpenAI", "azure", "", ("AZURE_OPENAI_API_KEY",),
                 (("AZURE_OPENAI_ENDPOINT", "/openai/v1"),)),
    ProviderSpec("bedrock", "Amazon Bedrock", "bedrock", "https://bedrock.{region}.amazonaws.com"),
)


@dataclass(frozen=True)
class ProviderAccess:
    """A provider resolved for this moment: its API root and credential, and where they came from.

    The credential's secrets are kept out of repr and equality (see `Credential`), so they
    never show in logs or tracebacks; `fingerprint` covers every part of it.
    """

    spec: ProviderSpec
    root: str
    root_explicit: bool
    credential: Credential | None = None
    fingerprint: str = ""
    # Copies of the spec's, as plain attributes: read many times on every list request.
    id: str = field(init=False)
    name: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "id", self.spec.id)
        object.__setattr__(self, "name", self.spec.name)

    @property
    def key(self) -> str | None:
        """The key of a provider that takes one in a header (None for signed or keyless)."""
        return self.credential.key if self.credential else None

    @property
    def key_source(self) -> str | None:
        """Where the credential came from ("env:VAR", "store", "aws:profile NAME"), or None."""
        return self.credential.source if self.credential else None

    @property
    def secrets(self) -> tuple[str | None, ...]:
        """What must never be quoted back: every secret part of the credential (a key, AWS
        keys and token), and a password inside the API root."""
        parts = self.credential.secrets if self.credential else ()
        return (*parts, root_password(self.root))

    @property
    def shown_root(self) -> str:
        return display_root(self.root)


def root_password(root: str) -> str | None:
    """The password in `root` (`https://user:pw@host`), if it holds one."""
    if "@" not in root:
        return None
    from urllib.parse import urlsplit  # here: shell completion never needs it

    try:
        return urlsplit(root).password
    except ValueError:  # not a URL: whatever sits between `:` and `@` is kept out of sight
        userinfo = root.partition("://")[2].rpartition("@")[0]
        return userinfo.partition(":")[2] or None


def display_root(root: str) -> str:
    """`root` as it may be shown: no user or password (a key pasted into a URL), no query
    or fragment (`?api-key=…`), control characters escaped."""
    from urllib.parse import urlsplit, urlunsplit  # here: shell completion never needs it

    try:
        parts = urlsplit(root)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"  # an IPv6 address
        netloc = f"{host}:{parts.port}" if parts.port is not None else host
    except ValueError:  # a port that is not a number: show no more than the scheme
        return printable(root.split("://", 1)[0] + "://…")
    return printable(urlunsplit((parts.scheme, netloc, parts.path, "", "")))


def _provider_tables(config: dict) -> dict[str, object]:
    tables = config.get("providers") or {}
    if not isinstance(tables, dict):
        raise SettingError("`providers` in config.toml must be tables: [providers.<id>]")
    return tables


def _custom_specs(config: dict) -> list[ProviderSpec]:
    builtins = {spec.id: spec for spec in BUILTINS}
    specs = []
    for pid, table in _provider_tables(config).items():
        if not isinstance(table, dict):
            raise SettingError(f"[providers.{pid}] in config.toml must be a table")
        builtin = builtins.get(pid)
        kind = str(table.get("kind", builtin.wire if builtin else "openai"))
        if kind not in WIRES:
            raise SettingError(
                f"[providers.{pid}] kind = {kind!r} is unknown; use one of: {', '.join(WIRES)}"
            )
        base_url = table.get("base_url")
        if (builtin is None or base_url is not None) and (
                not isinstance(base_url, str) or not base_url.startswith(("http://", "https://"))):
            raise SettingError(f"[providers.{pid}] needs base_url = \"http(s)://host/v1\"")
        key_env = table.get("api_key_env")
        if key_env is not None and not (isinstance(key_env, str) and _VARIABLE.fullmatch(key_env)):
            # Never echo the value: people paste the key itself here.
            raise SettingError(f"[providers.{pid}] api_key_env must be the name of an "
                               "environment variable (like GATEWAY_API_KEY), not the key")
        if builtin is not None:
            # A built-in's table moves its root (applied by `resolve`) and may rename it or
            # name another key variable; what it leaves out stays as in the table above.
            specs.append(replace(
                builtin, name=str(table.get("name", builtin.name)), wire=kind, chat_wire="",
                key_envs=(key_env,) if key_env else builtin.key_envs,
            ))
            continue
        assert isinstance(base_url, str)  # checked above: a custom endpoint needs its root
        specs.append(ProviderSpec(
            id=str(pid), name=str(table.get("name", pid)), wire=kind,
            default_root=base_url.rstrip("/"),
            key_envs=(key_env,) if key_env else (),
            keyless=not key_env and kind not in AWS_WIRES,
        ))
    return specs


def all_specs() -> dict[str, ProviderSpec]:
    """Every known provider by id: built-ins, then custom endpoints (which may replace one)."""
    specs = {spec.id: spec for spec in BUILTINS}
    specs.update((spec.id, spec) for spec in _custom_specs(load_config()))
    return specs


def _root(spec: ProviderSpec, config_root: object) -> tuple[str, bool]:
    forge = os.environ.get(f"FORGE_{spec.id.upper().replace('-', '_')}_BASE_URL")
    if forge:
        return _normalise_root(forge), True
    for var, suffix in spec.sdk_root_envs:
        value = os.environ.get(var)
        if value:
            root = ollama_host(value) if var == "OLLAMA_HOST" else _normalise_root(value)
            return (root if root.endswith(suffix) else root + suffix), True
    if isinstance(config_root, str) and config_root:
        return _normalise_root(config_root), True
    is_custom = all(spec.id != builtin.id for builtin in BUILTINS)
    return spec.default_root, is_custom


def _normalise_root(value: str) -> str:
    value = value.strip().rstrip("/")
    return value if "://" in value else f"http://{value}"  # OLLAMA_HOST may be host:port


def ollama_host(value: str) -> str:
    """`OLLAMA_HOST` read as Ollama reads it: `0.0.0.0`, `:PORT` and `0.0.0.0:PORT` (addresses
    a server listens on) mean this machine; without a scheme, http and port 11434."""
    value = value.strip()
    scheme, sep, rest = value.partition("://")
    if not sep:
        scheme, rest = "http", value
    port = "" if sep else "11434"  # with a scheme, its own default port, as Ollama has it
    hostport, _, path = rest.partition("/")
    host = hostport
    if hostport.startswith("["):  # [::1]:port
        host, _, tail = hostport.partition("]")
        host += "]"
        port = tail.removeprefix(":") or port
    elif hostport.count(":") == 1:
        host, port = hostport.split(":")
    if host in ("", "0.0.0.0", "[::]"):
        host = "localhost"
    return f"{scheme}://{host}{':' if port else ''}{port}" + f"/{path}".rstrip("/")


def resolve(spec: ProviderSpec) -> ProviderAccess:
    """Where `spec` is reached now and with which credential (None when there is none)."""
    table = _provider_tables(load_config()).get(spec.id)
    config_root = table.get("base_url") if isinstance(table, dict) else None
    root, explicit = _root(spec, config_root)
    if spec.uses_aws:
        credential = find_aws()
        if not explicit and credential is not None and credential.region:
            root = root.replace("{region}", credential.region)
    elif spec.keyless:
        credential = None
    else:
        credential = find_key(spec.id, spec.key_envs, load_store())
    identity = credential.identity if credential else None
    return ProviderAccess(spec, root, explicit, credential, fingerprint(identity, root))


def is_logged_in(access: ProviderAccess) -> bool:
    """A usable credential and a root were found, or the provider is keyless (Ollama is
    probed by the aggregator)."""
    if access.spec.keyless:
        return True
    return bool(access.root) and access.credential is not None and not access.credential.missing


def missing(access: ProviderAccess) -> str:
    """What is left to set before `access` is logged in, in a few words: "OPENAI_API_KEY",
    "AWS_REGION", "AZURE_OPENAI_API_KEY and AZURE_OPENAI_ENDPOINT"."""
    spec, credential = access.spec, access.credential
    needs = []
    if credential is None:
        needs.append("AWS_PROFILE or AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY, and AWS_REGION"
                     if spec.uses_aws else " or ".join(spec.key_envs) or "a key")
    elif credential.missing:
        needs.append(credential.missing)
    if not access.root:  # Azure: each resource has its own root
        needs.append(spec.sdk_root_envs[0][0] if spec.sdk_root_envs else "base_url")
    return " and ".join(needs)


def credential_from(access: ProviderAccess) -> str:
    """For tables: where the credential came from, never it, and what is still missing."""
    source = "no key needed" if access.spec.keyless else access.key_source
    needs = "" if is_logged_in(access) else missing(access)
    if needs:
        return f"{source} (set {needs})" if source else f"not set: {needs}"
    return source or ""


def how_to_log_in(access: ProviderAccess) -> str:
    """What is still needed to log in to `access`, as the end of a message."""
    if access.credential is None and not access.spec.uses_aws:
        return f"run `forge-ipy login {access.id}` or set {missing(access)}"
    return f"set {missing(access)}"


def logged_in(only: tuple[str, ...] | None = None) -> list[ProviderAccess]:
    """The providers to ask for models, in table order, limited to `only` when given.

    Called on every list request, so the answer is reused while nothing it depends on
    changed: the watched variables, `config.toml` and the credential store.
    """
    global _memo
    snapshot = _snapshot(only)
    if _memo is not None and _memo[0] == snapshot and _memo[1] is BUILTINS:
        return _memo[2]
    specs = all_specs()
    _watch(specs.values())
    if only:
        unknown = [pid for pid in only if pid not in specs]
        if unknown:
            raise SettingError(
                f"unknown provider {', '.join(unknown)}; known: {', '.join(specs)}"
            )
        specs = {pid: specs[pid] for pid in only}
    accesses = (resolve(spec) for spec in specs.values())
    found = [access for access in accesses if is_logged_in(access)]
    _memo = (_snapshot(only), BUILTINS, found)
    return found


_memo: tuple[tuple, tuple[ProviderSpec, ...], list[ProviderAccess]] | None = None
_watched: tuple[str, ...] = ()


def environment_variables(specs: Iterable[ProviderSpec] = BUILTINS) -> tuple[str, ...]:
    """Every variable that can change who is logged in, or where, or with what key."""
    names = {"FORGE_IPY_CONFIG_DIR"}
    for spec in specs:
        names.add(f"FORGE_{spec.id.upper().replace('-', '_')}_BASE_URL")
        names.update(spec.key_envs)
        names.update(var for var, _ in spec.sdk_root_envs)
        if spec.uses_aws:
            names.update(AWS_VARIABLES)
    return tuple(sorted(names))


def _watch(specs: Iterable[ProviderSpec]) -> None:
    global _watched
    _watched = environment_variables(specs)


def _snapshot(only: tuple[str, ...] | None) -> tuple:
    folder = str(config_dir())
    # The AWS chain's files decide who is logged in too, when the table has such a provider.
    aws = tuple(map(file_stamp, aws_files())) if "AWS_REGION" in _watched else ()
    return (only, folder, file_stamp(os.path.join(folder, "config.toml")),
            file_stamp(os.path.join(folder, STORE_NAME)),
            tuple(map(os.environ.get, _watched)), aws)
