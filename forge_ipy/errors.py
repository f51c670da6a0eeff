"""One root error and a small tree under it.

    ForgeError                 anything forge-ipy raises on purpose
    ├── SettingError           a bad setting value (names the setting and the allowed values)
    ├── CredentialError        the credential store cannot be read or written
    ├── ProviderError          one provider failed; carries provider_id and error_kind
    │   └── RateLimitError     HTTP 429 (kind `rate_limited`), with the wait the provider asks
    ├── CacheError             the cache file cannot be used
    └── SelectionError         an unknown, ambiguous or unavailable model name

Messages are one line and end with what to do.
"""

from __future__ import annotations


class ForgeError(Exception):
    """Base of every error forge-ipy raises on purpose."""


class SettingError(ForgeError, ValueError):
    pass


class CredentialError(ForgeError):
    pass


class ProviderError(ForgeError):
    def __init__(self, provider_id: str, kind: str, message: str) -> None:
        super().__init__(message)
        self.provider_id = provider_id
        self.kind = kind


class RateLimitError(ProviderError):
    """The provider answered 429; `retry_after` is the wait it asked for, in seconds, if any."""

    def __init__(self, provider_id: str, message: str, retry_after: float | None) -> None:
        super().__init__(provider_id, "rate_limited", message)
        self.retry_after = retry_after


class CacheError(ForgeError):
    pass


def describe_os_error(exc: OSError) -> str:
    """One line for a file-system failure: what, where, and what to check."""
    where = f" {exc.filename}" if exc.filename else ""
    return (f"cannot use{where}: {exc.strerror or exc}; check FORGE_IPY_CONFIG_DIR, "
            "FORGE_IPY_CACHE_DIR and the folders' permissions")


class SelectionError(ForgeError):
    def __init__(self, message: str, matches: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.matches = matches
