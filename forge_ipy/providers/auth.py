"""How a credential signs a request: one `httpx.Auth` per kind.

Most providers take a key in a header (`Authorization: Bearer`, Anthropic's `x-api-key`,
Gemini's `x-goog-api-key`, Azure's `api-key`); Amazon Bedrock takes a SigV4 signature,
made by botocore's signer from the AWS chain's credentials. botocore is an optional extra and
is imported only when a Bedrock request is signed, on a worker thread (the chain may read
files, run a credential process or refresh an SSO token: never on the package's loop).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Generator
from typing import Any

import httpx

from .credential import Credential

INSTALL_BOTOCORE = "pip install 'forge-ipy[bedrock]'"
# botocore adds these to the request it signs; everything else httpx sends is left unsigned.
_SIGV4_HEADERS = ("Authorization", "X-Amz-Date", "X-Amz-Security-Token")


class _NoSecretsLogged(logging.Filter):
    """botocore logs the canonical request at DEBUG, session token included: drop it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(("CanonicalRequest", "Signature"))


_NO_SECRETS_LOGGED = _NoSecretsLogged()


class SigningError(Exception):
    """The request cannot be signed (no botocore, no credentials). The message is one line,
    says what to do, and holds no secret."""


class HeaderKey(httpx.Auth):
    """A key sent in headers, e.g. `HeaderKey({"api-key": key})`. Never shown in repr."""

    def __init__(self, headers: dict[str, str]) -> None:
        self._headers = headers

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers.update(self._headers)
        yield request

    def __repr__(self) -> str:
        return f"HeaderKey({', '.join(sorted(self._headers))})"  # names only


class SigV4(httpx.Auth):
    """AWS Signature Version 4 for `service`, by botocore, with the AWS chain's credentials.

    The credentials are resolved once per instance (the fetch path makes one per listing)
    and frozen, so a refresh never happens halfway through the pages of one list.
    """

    def __init__(self, credential: Credential, service: str) -> None:
        self._credential = credential
        self._service = service
        self._frozen: Any = None

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        if self._frozen is None:
            self._frozen = frozen_aws_credentials(self._credential)
        request.read()
        self._sign(request)
        yield request

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        if self._frozen is None:
            self._frozen = await asyncio.to_thread(frozen_aws_credentials, self._credential)
        await request.aread()
        self._sign(request)
        yield request

    def _sign(self, request: httpx.Request) -> None:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        headers = {"host": request.headers["host"]}
        aws = AWSRequest(method=request.method, url=str(request.url), headers=headers,
                         data=request.content)
        SigV4Auth(self._frozen, self._service, self._credential.region).add_auth(aws)
        for name in _SIGV4_HEADERS:
            if name in aws.headers:
                request.headers[name] = aws.headers[name]

    def __repr__(self) -> str:
        return f"SigV4({self._service}, {self._credential.region}, {self._credential.source})"


def frozen_aws_credentials(credential: Credential) -> Any:
    """The AWS chain's credentials now, as botocore resolves them. Blocking: off the loop."""
    try:  # the signer's modules too, so that signing on the loop imports nothing
        import botocore.auth
        import botocore.awsrequest
        import botocore.session
        from botocore.exceptions import BotoCoreError
    except ImportError:
        raise SigningError("botocore is needed to sign Amazon Bedrock requests; run "
                           f"{INSTALL_BOTOCORE}") from None
    logging.getLogger("botocore.auth").addFilter(_NO_SECRETS_LOGGED)  # once: a set of filters
    session = botocore.session.Session()
    if credential.source.startswith("aws:profile"):
        # Only when no keys are in the variables: an explicit profile takes the variables
        # out of botocore's chain, and the registry found the profile for the same reason.
        session.set_config_variable("profile", credential.profile)
    try:
        found = session.get_credentials()
        frozen = found.get_frozen_credentials() if found is not None else None
    except BotoCoreError as exc:
        # Its messages name profiles and files, not secrets; the type alone when unsure.
        raise SigningError(f"the AWS chain failed ({credential.source}): "
                           f"{type(exc).__name__}; check the profile and its files") from None
    if frozen is None or not frozen.access_key:
        raise SigningError(f"the AWS chain found no credentials ({credential.source}); set "
                           "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE")
    return frozen


def for_credential(kind: str, credential: Credential | None) -> httpx.Auth | None:
    """The `httpx.Auth` for a wire's `AUTH` kind and a provider's credential.

    Kinds: "bearer", "x-api-key", "x-goog-api-key", "api-key" (the header's name), a
    "sigv4:SERVICE" signature, or "none". None when there is nothing to send.
    """
    if kind.startswith("sigv4:"):
        if credential is None or credential.kind != "aws":
            raise SigningError("no AWS credentials; set AWS_ACCESS_KEY_ID and "
                               "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE")
        return SigV4(credential, kind.removeprefix("sigv4:"))
    key = credential.key if credential is not None else None
    if kind == "none" or not key:
        return None
    if kind == "bearer":
        return HeaderKey({"Authorization": f"Bearer {key}"})
    return HeaderKey({kind: key})
