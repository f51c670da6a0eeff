"""A provider's credential as data: where it came from, its secret parts, and its identity.

The registry finds one per provider: a key (an environment variable or the credential store)
or the AWS chain (variables, or a profile of the shared credentials and config files). How
the credential signs a request lives in `auth.py`, which imports httpx (and botocore) lazily;
this module is standard library only, since shell completion reads identities through it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..places import aws_files

# The AWS chain's variables, as botocore reads them (DESIGN.md "Providers that sign requests").
AWS_KEY_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
AWS_PROFILE_VARS = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE")
AWS_REGION_VARS = ("AWS_REGION", "AWS_DEFAULT_REGION")
AWS_FILE_VARS = ("AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE")
AWS_VARIABLES = AWS_KEY_VARS + AWS_PROFILE_VARS + AWS_REGION_VARS + AWS_FILE_VARS
# Profile settings with which botocore finds credentials that are not in the files.
_INDIRECT = ("role_arn", "credential_source", "credential_process", "sso_session",
             "sso_start_url", "web_identity_token_file")


@dataclass(frozen=True)
class Credential:
    """What signs a provider's requests. Secrets stay out of repr and equality.

    `kind` is "key" (one secret sent in a header) or "aws" (SigV4 from the AWS chain).
    `source` says where it came from, for display: "env:VAR", "store", "aws:env",
    "aws:profile NAME". `missing` names what is still needed before it can sign.
    """

    kind: str
    source: str
    secrets: tuple[str, ...] = field(default=(), repr=False, compare=False)
    region: str | None = None
    profile: str | None = None
    missing: str | None = None

    @property
    def key(self) -> str | None:
        """The key of a "key" credential; None for the others."""
        return self.secrets[0] if self.kind == "key" and self.secrets else None

    @property
    def identity(self) -> str:
        """Every part that changes what the provider answers (for the cache fingerprint).

        Secret: only ever fed to the salted HMAC of `credentials.fingerprint`.
        """
        if self.kind == "key":
            return self.key or ""
        return "\0".join((self.kind, *self.secrets, self.profile or "", self.region or ""))


def find_key(provider_id: str, variables: tuple[str, ...],
             store: dict[str, str]) -> Credential | None:
    """The first non-empty variable of `variables`, else the stored key, else None."""
    for var in variables:
        value = os.environ.get(var, "").strip()
        if value:
            return Credential("key", f"env:{var}", (value,))
    if provider_id in store:
        return Credential("key", "store", (store[provider_id],))
    return None


def find_aws() -> Credential | None:
    """Credentials from the AWS chain as botocore would find them, or None when there are none.

    Variables first (access key and secret, with the session token if set), then the profile
    (`AWS_PROFILE`, else "default") of the shared credentials file, then of the config file.
    A profile that names a role, SSO or a credential process counts too: botocore resolves it
    when a request is signed. Region: `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's.
    """
    env = {var: os.environ.get(var, "").strip() for var in AWS_VARIABLES}
    profile = env["AWS_PROFILE"] or env["AWS_DEFAULT_PROFILE"] or "default"
    in_env = env["AWS_ACCESS_KEY_ID"] and env["AWS_SECRET_ACCESS_KEY"]
    region = env["AWS_REGION"] or env["AWS_DEFAULT_REGION"]
    in_credentials: dict[str, str] = {}
    in_config: dict[str, str] = {}
    if not (in_env and region):  # else all comes from the variables: no file is read
        credentials_file, config_file = aws_files()
        in_credentials = _section(credentials_file, profile)
        in_config = _section(config_file,
                             profile if profile == "default" else f"profile {profile}")
        region = region or in_config.get("region", "").strip()
    missing = None if region else "AWS_REGION"
    if in_env:
        return Credential("aws", "aws:env", tuple(env[var] for var in AWS_KEY_VARS),
                          region=region or None, missing=missing)
    secrets = _profile_secrets(in_credentials, in_config)
    if secrets is None:
        return None
    return Credential("aws", f"aws:profile {profile}", secrets, region=region or None,
                      profile=profile, missing=missing)


def _profile_secrets(in_credentials: dict[str, str],
                     in_config: dict[str, str]) -> tuple[str, ...] | None:
    """A profile's keys (the credentials file first), else the settings with which botocore
    fetches short-lived ones (a role, SSO, a process: they are its identity), else None."""
    for section in (in_credentials, in_config):
        keys = tuple(section.get(name, "").strip() for name in
                     ("aws_access_key_id", "aws_secret_access_key", "aws_session_token"))
        if keys[0] and keys[1]:
            return keys
    if any(name in in_config or name in in_credentials for name in _INDIRECT):
        settings = sorted({**in_config, **in_credentials}.items())
        return tuple(f"{name}={value}" for name, value in settings)
    return None


def _section(path: str, name: str) -> dict[str, str]:
    """One section of an AWS ini file, or {} when the file or the section is not there."""
    if not os.path.isfile(path):
        return {}
    import configparser  # only when there is such a file to read

    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, OSError, UnicodeDecodeError):
        return {}  # botocore refuses such a file too: the chain finds nothing there
    return dict(parser[name]) if parser.has_section(name) else {}
