"""Providers whose credentials are more than a bearer key: Azure OpenAI (`api-key` header, a
root of the resource's own) and Amazon Bedrock (SigV4 by botocore, the AWS chain), against
the loopback server, which checks the header and verifies each signature with the secret it
was given. Also: the fingerprint covers every part of a credential, and no secret is written
or shown anywhere."""

from __future__ import annotations

import builtins
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from forge_ipy import cli, credentials
from forge_ipy.cache import FILE_NAME
from forge_ipy.catalog import Catalog
from forge_ipy.providers import registry
from forge_ipy.providers.auth import for_credential
from forge_ipy.testing import AwsAccount, FakeModel, sigv4_refusal

SECRET = "s3cret/Loopback+Key/ABCDEFGHIJ0123456789"
TOKEN = "session-token-FwoGZXIvYXdzEJr//////////wEaDLoopback"
AZURE_KEY = "azure-key-0123456789abcdef"
SETTINGS = {"model_cache_strategy": "moderate", "model_cache_ttl_seconds": 3600.0,
            "model_cache_refresh": "block"}


def account(**changes: str) -> AwsAccount:
    return AwsAccount(**{"secret_access_key": SECRET, **changes})


@pytest.fixture
def bedrock(loopback, serve):
    """Bedrock on the loopback server, the AWS chain's variables exported for its account."""
    loopback.add("bedrock", aws=account())
    return serve()


@pytest.fixture
def azure(loopback, serve):
    loopback.add("azure", key=AZURE_KEY)
    return serve()


def only(fetch, provider_id):
    [result] = fetch((provider_id,))
    return result


def kinds(models) -> dict[str, tuple[str | None, str | None]]:
    return {m.id: (m.kind, m.status) for m in models}


# -- Azure OpenAI ---------------------------------------------------------------------------
def test_azure_lists_models_with_kind_and_status_from_capabilities_and_lifecycle(azure, fetch):
    result = only(fetch, "azure")

    assert result.ok, result.error
    assert kinds(result.models) == {
        "gpt-4o": ("chat", None), "gpt-4o-mini": ("chat", None),
        "text-embedding-3-large": ("embedding", None),
        "gpt-35-turbo-instruct": ("completion", None),
        "dall-e-3": (None, None),  # Azure says only "inference": the catalog decides
        "gpt-35-turbo-0301": ("chat", "retired"),  # its inference end date has passed
    }
    assert result.models[0].created == 1_715_558_400
    [request] = azure.requests_for("azure")
    assert request.path == "/azure/openai/v1/models"
    assert request.auth_headers == ("api-key",)  # no bearer header beside it


def test_azure_deprecating_model_is_deprecated(loopback, serve, fetch):
    loopback.add("azure", [FakeModel("gpt-4", status="deprecated")])
    serve()

    assert kinds(only(fetch, "azure").models) == {"gpt-4": ("chat", "deprecated")}


def test_azure_refuses_a_wrong_key(azure, fetch, monkeypatch):
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "wrong-azure-key")

    result = only(fetch, "azure")

    assert result.error.kind == "auth"
    assert "Access denied due to invalid subscription key" in str(result.error)
    assert "check the key (env:AZURE_OPENAI_API_KEY)" in str(result.error)
    assert "wrong-azure-key" not in str(result.error)


def test_azure_root_comes_from_the_endpoint_and_both_are_needed(loopback, monkeypatch, fetch):
    loopback.add("azure", key=AZURE_KEY)
    assert "azure" not in [a.id for a in registry.logged_in()]  # nothing set

    monkeypatch.setenv("AZURE_OPENAI_API_KEY", AZURE_KEY)
    access = registry.resolve(registry.all_specs()["azure"])
    assert not registry.is_logged_in(access)  # a key, but no resource to send it to
    assert registry.how_to_log_in(access) == "set AZURE_OPENAI_ENDPOINT"

    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", f"{loopback.base_url}/azure/")
    access = registry.resolve(registry.all_specs()["azure"])
    assert access.root == f"{loopback.base_url}/azure/openai/v1"
    assert registry.is_logged_in(access) and access.key_source == "env:AZURE_OPENAI_API_KEY"
    assert only(fetch, "azure").ok

    monkeypatch.delenv("AZURE_OPENAI_API_KEY")
    assert "azure" not in [a.id for a in registry.logged_in()]  # an endpoint alone is not


# -- Amazon Bedrock -------------------------------------------------------------------------
def test_bedrock_lists_models_signed_with_sigv4(bedrock, fetch):
    result = only(fetch, "bedrock")

    assert result.ok, result.error
    assert kinds(result.models) == {
        "anthropic.claude-3-5-sonnet-20240620-v1:0": ("chat", None),
        "amazon.nova-pro-v1:0": ("chat", None),
        "meta.llama3-70b-instruct-v1:0": ("chat", None),
        "anthropic.claude-v2:1": ("chat", "deprecated"),  # LEGACY
        "amazon.titan-embed-text-v2:0": ("embedding", None),
        "amazon.titan-image-generator-v2:0": ("image", None),
    }
    sonnet = result.models[0]
    assert (sonnet.name, sonnet.input_modalities, sonnet.output_modalities) == (
        "Claude 3.5 Sonnet", ("text", "image"), ("text",))
    [request] = bedrock.requests_for("bedrock")
    assert request.path == "/bedrock/foundation-models"
    assert request.auth_headers == ("authorization",)  # no session token without one
    assert result.access.key_source == "aws:env" and result.access.key is None


def test_bedrock_refuses_a_wrong_secret_as_a_signature_mismatch(bedrock, fetch, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not/the+secret/0123456789ABCDEFGHIJ")

    result = only(fetch, "bedrock")

    assert result.error.kind == "auth"
    assert "signature we calculated does not match" in str(result.error)
    assert "check the credentials (aws:env)" in str(result.error)
    assert "not/the+secret" not in str(result.error)


def test_bedrock_refuses_an_unknown_access_key(bedrock, fetch, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDSOMEONEELSE00001")

    result = only(fetch, "bedrock")

    assert result.error.kind == "auth"
    assert "security token included in the request is invalid" in str(result.error)


def test_bedrock_signature_is_scoped_to_the_region(bedrock, fetch, monkeypatch):
    monkeypatch.setenv("AWS_REGION", "eu-west-3")  # the server's account is in us-east-1

    result = only(fetch, "bedrock")

    assert result.error.kind == "auth" and "region" in str(result.error)


def test_bedrock_default_root_carries_the_region(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    spec = registry.all_specs()["bedrock"]
    access = registry.resolve(spec)
    assert not registry.is_logged_in(access)  # no region yet: nowhere to send it
    assert access.key_source == "aws:env" and registry.how_to_log_in(access) == "set AWS_REGION"

    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-southeast-2")
    assert registry.resolve(spec).root == "https://bedrock.ap-southeast-2.amazonaws.com"
    monkeypatch.setenv("AWS_REGION", "eu-central-1")  # AWS_REGION wins
    access = registry.resolve(spec)
    assert access.root == "https://bedrock.eu-central-1.amazonaws.com"
    assert registry.is_logged_in(access) and not access.root_explicit


def test_bedrock_session_token_is_sent_and_checked(loopback, serve, fetch, monkeypatch):
    loopback.add("bedrock", aws=account(session_token=TOKEN))
    serve()

    result = only(fetch, "bedrock")
    assert result.ok, result.error
    assert loopback.requests_for("bedrock")[0].auth_headers == (
        "authorization", "x-amz-security-token")

    monkeypatch.delenv("AWS_SESSION_TOKEN")  # temporary keys without their token
    assert only(fetch, "bedrock").error.kind == "auth"


def write_aws_files(tmp_path: Path, credentials_text: str, config_text: str = "") -> None:
    folder = tmp_path / "aws"  # where the autouse fixture points the AWS chain
    folder.mkdir(exist_ok=True)
    (folder / "credentials").write_text(credentials_text)
    (folder / "config").write_text(config_text)


def test_bedrock_profile_from_the_shared_files(loopback, fetch, monkeypatch, tmp_path):
    loopback.add("bedrock", aws=account(region="eu-west-1", session_token=TOKEN))
    monkeypatch.setenv("FORGE_BEDROCK_BASE_URL", loopback.root("bedrock"))
    write_aws_files(
        tmp_path,
        "[default]\naws_access_key_id = AKIDDEFAULTPROFILE01\naws_secret_access_key = other\n"
        f"[work]\naws_access_key_id = {AwsAccount().access_key_id}\n"
        f"aws_secret_access_key = {SECRET}\naws_session_token = {TOKEN}\n",
        "[default]\nregion = us-east-1\n[profile work]\nregion = eu-west-1\noutput = json\n")
    monkeypatch.setenv("AWS_PROFILE", "work")

    result = only(fetch, "bedrock")

    assert result.ok, result.error
    assert result.access.key_source == "aws:profile work"
    assert result.access.credential.region == "eu-west-1"  # the profile's, from the config


def test_bedrock_variables_win_over_the_profile(monkeypatch, tmp_path):
    write_aws_files(tmp_path, "[default]\naws_access_key_id = A\naws_secret_access_key = B\n",
                    "[default]\nregion = us-west-2\n")
    spec = registry.all_specs()["bedrock"]
    assert registry.resolve(spec).key_source == "aws:profile default"

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDFROMENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    access = registry.resolve(spec)
    assert access.key_source == "aws:env"
    assert access.root == "https://bedrock.us-west-2.amazonaws.com"  # region from the profile


def test_a_profile_that_assumes_a_role_counts_as_logged_in(monkeypatch, tmp_path):
    write_aws_files(tmp_path, "", "[profile ops]\nrole_arn = arn:aws:iam::123456789012:role/x\n"
                    "source_profile = default\nregion = us-east-2\n")
    monkeypatch.setenv("AWS_PROFILE", "ops")

    access = registry.resolve(registry.all_specs()["bedrock"])

    assert registry.is_logged_in(access) and access.key_source == "aws:profile ops"


def test_no_aws_credentials_means_bedrock_is_not_logged_in(monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    write_aws_files(tmp_path, "[default]\n# keys not written yet\n", "[default]\noutput = json\n")

    access = registry.resolve(registry.all_specs()["bedrock"])

    assert access.credential is None and not registry.is_logged_in(access)
    assert "AWS_PROFILE" in registry.how_to_log_in(access)


def test_bedrock_without_botocore_says_how_to_install_it(bedrock, loopback, serve, fetch,
                                                         monkeypatch):
    loopback.add("openai")
    serve()
    for name in [m for m in sys.modules if m == "botocore" or m.startswith("botocore.")]:
        monkeypatch.delitem(sys.modules, name)
    real_import = builtins.__import__

    def blocked(name, *args, **kwargs):
        if name == "botocore" or name.startswith("botocore."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", blocked)

    results = {r.access.id: r for r in fetch(("openai", "bedrock"))}

    assert results["openai"].ok  # nothing else breaks
    error = results["bedrock"].error
    assert error.kind == "auth"
    assert "pip install 'forge-ipy[bedrock]'" in str(error) and "\n" not in str(error)
    assert bedrock.requests_for("bedrock") == []  # refused before anything was sent


def test_the_signer_loads_lazily():
    code = ("import sys, forge_ipy, forge_ipy.cli, forge_ipy.catalog, forge_ipy.providers.fetch;"
            "from forge_ipy.providers import registry;"
            "print(sorted(m for m in ('botocore', 'httpx') if m in sys.modules))")
    quick = ("import sys; from forge_ipy.providers import registry;"
             "print(sorted(m for m in ('botocore', 'httpx') if m in sys.modules))")
    run = [subprocess.run([sys.executable, "-c", c], capture_output=True, text=True, check=True)
           for c in (code, quick)]
    assert run[0].stdout.strip() == "['httpx']"  # the fetch path, but no signer yet
    assert run[1].stdout.strip() == "[]"  # the registry (shell completion) needs neither


# -- the SigV4 verifier itself ------------------------------------------------------------
def test_the_verifier_accepts_the_aws_test_suite_vector():
    """`get-vanilla` of AWS's SigV4 test suite: a signature computed by AWS, not by us."""
    suite = AwsAccount("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    headers = {
        "host": "example.amazonaws.com", "x-amz-date": "20150830T123600Z",
        "authorization": "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/"
        "aws4_request, SignedHeaders=host;x-amz-date, Signature="
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"}
    now = 1_440_938_160.0  # 2015-08-30T12:36:00Z

    assert sigv4_refusal("GET", "/", headers, b"", suite, "service", now) is None
    assert sigv4_refusal("GET", "/?x=1", headers, b"", suite, "service", now) is not None
    assert "expired" in sigv4_refusal("GET", "/", headers, b"", suite, "service", now + 3600)


# -- the fingerprint covers every part ------------------------------------------------------
def bedrock_fingerprint() -> str:
    return registry.resolve(registry.all_specs()["bedrock"]).fingerprint


@pytest.mark.parametrize(("variable", "value"), [
    ("AWS_ACCESS_KEY_ID", "AKIDROTATED000000001"),
    ("AWS_SECRET_ACCESS_KEY", "rotated/secret"),
    ("AWS_SESSION_TOKEN", "another-token"),
    ("AWS_REGION", "eu-north-1"),
    ("FORGE_BEDROCK_BASE_URL", "http://127.0.0.1:9/elsewhere"),
])
def test_the_fingerprint_changes_with_every_part_of_the_credential(bedrock, monkeypatch,
                                                                    variable, value):
    monkeypatch.setenv("AWS_SESSION_TOKEN", TOKEN)
    before = bedrock_fingerprint()
    assert bedrock_fingerprint() == before  # stable while nothing changes

    monkeypatch.setenv(variable, value)

    assert bedrock_fingerprint() != before


def test_a_rotated_secret_refetches(loopback, serve, monkeypatch):
    loopback.add("bedrock", aws=account())
    serve()
    catalog = Catalog()
    assert catalog.get_all_models(("bedrock",), settings=SETTINGS).status("bedrock").ok
    assert catalog.get_all_models(("bedrock",), settings=SETTINGS).status("bedrock").from_cache
    assert len(loopback.requests_for("bedrock")) == 1

    rotated = account(secret_access_key="rotated/Secret+Key/9876543210ZYXWVUTSRQ")
    loopback.providers["bedrock"].aws = rotated
    loopback.providers["bedrock"].models = [FakeModel("amazon.nova-lite-v1:0")]
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", rotated.secret_access_key)
    listing = catalog.get_all_models(("bedrock",), settings=SETTINGS)

    assert [m.id for m in listing] == ["amazon.nova-lite-v1:0"]
    assert not listing.status("bedrock").from_cache
    assert len(loopback.requests_for("bedrock")) == 2


# -- no secret anywhere ---------------------------------------------------------------------
def test_no_secret_in_cache_reprs_errors_or_providers_json(loopback, serve, monkeypatch,
                                                           capsys, tmp_path):
    loopback.add("bedrock", aws=account(session_token=TOKEN))
    loopback.add("azure", key=AZURE_KEY)
    serve()
    secrets = (SECRET, TOKEN, AZURE_KEY)
    Catalog().get_all_models(("bedrock", "azure"), settings=SETTINGS)
    cache_text = (Path(tmp_path / "cache") / FILE_NAME).read_text()
    specs = registry.all_specs()
    accesses = [registry.resolve(specs[pid]) for pid in ("bedrock", "azure")]
    auths = [for_credential(kind, a.credential)
             for kind, a in zip(("sigv4:bedrock", "api-key"), accesses, strict=True)]
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x" + SECRET)  # refused: an error message
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "x" + AZURE_KEY)
    failed = Catalog().get_all_models(("bedrock", "azure"), refresh=True, settings=SETTINGS)
    cli.main(["providers", "--json"])
    providers_json = capsys.readouterr().out

    shown = "\n".join([cache_text, *map(repr, accesses), *map(repr, auths),
                       *(str(s.error) for s in failed.providers), providers_json])
    assert all(status.error_kind == "auth" for status in failed.providers)
    assert not any(secret in shown or secret[1:] in shown for secret in secrets)
    rows = {row["id"]: row for row in json.loads(providers_json)}
    assert rows["bedrock"]["key_source"] == "aws:env"
    assert rows["azure"]["key_source"] == "env:AZURE_OPENAI_API_KEY"
    assert rows["bedrock"]["logged_in"] and rows["azure"]["logged_in"]
    assert credentials.fingerprint(None, "") not in cache_text


# -- the CLI --------------------------------------------------------------------------------
def test_providers_table_shows_where_each_credential_came_from(bedrock, capsys, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")

    cli.main(["providers"])
    out = capsys.readouterr().out

    lines = {line.split()[0]: line for line in out.splitlines()[1:] if line.strip()}
    assert "credential from" in out.splitlines()[0]
    assert "aws:env" in lines["bedrock"] and "env:OPENAI_API_KEY" in lines["openai"]
    assert "not set: AZURE_OPENAI_API_KEY and AZURE_OPENAI_ENDPOINT" in lines["azure"]
    assert SECRET not in out and "sk-test" not in out


def test_login_to_bedrock_points_at_the_aws_chain(capsys):
    assert cli.main(["login", "bedrock"]) == 1
    err = capsys.readouterr().err
    assert "AWS_PROFILE" in err and "AWS_REGION" in err and err.count("\n") == 1


def test_select_names_what_bedrock_still_needs(monkeypatch, capsys):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)

    assert cli.main(["select", "bedrock/amazon.nova-pro-v1:0"]) != 0
    err = capsys.readouterr().err
    assert "bedrock is not logged in; set AWS_REGION" in err and SECRET not in err


@pytest.mark.parametrize(("provider_id", "needs"), [
    ("bedrock", "set AWS_PROFILE or AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY, and AWS_REGION"),
    ("azure", "or set AZURE_OPENAI_API_KEY and AZURE_OPENAI_ENDPOINT"),
])
def test_models_of_a_provider_not_logged_in_says_what_it_needs(capsys, provider_id, needs):
    assert cli.main(["models", "-p", provider_id]) == 0
    err = capsys.readouterr().err
    assert f"not logged in to {provider_id}; " in err and needs in err


def test_the_aws_chain_runs_off_the_event_loop(bedrock, fetch, monkeypatch):
    """It may read files, run a credential process or refresh SSO: never on the loop."""
    import threading

    from forge_ipy.providers import auth

    seen = []
    real = auth.frozen_aws_credentials

    def recording(credential):
        seen.append(threading.current_thread())
        return real(credential)

    monkeypatch.setattr(auth, "frozen_aws_credentials", recording)

    assert only(fetch, "bedrock").ok
    assert len(seen) == 1 and seen[0] is not threading.current_thread()  # the loop's thread


def test_the_catalog_of_model_facts_fills_what_azure_and_bedrock_leave_out(loopback, serve):
    loopback.add("azure")
    loopback.add("bedrock", aws=account())
    serve()

    listing = Catalog().get_all_models(("azure", "bedrock"), settings=SETTINGS)

    by_name = {m.full_name: m for m in listing}
    for name in ("azure/gpt-4o", "bedrock/amazon.nova-pro-v1:0"):  # in the bundled snapshot
        model = by_name[name]
        assert model.context_length and model.input_price is not None
        assert model.facts_from == ("provider", "catalog") and model.kind == "chat"


def test_no_secret_in_logs_even_at_debug(loopback, serve, fetch, caplog):
    loopback.add("bedrock", aws=account(session_token=TOKEN))
    serve()
    caplog.set_level(logging.DEBUG)  # a notebook with logging.basicConfig(level=DEBUG)

    assert only(fetch, "bedrock").ok

    assert "botocore" in caplog.text  # botocore did log, at DEBUG
    assert TOKEN not in caplog.text and SECRET not in caplog.text


def test_completions_memo_of_logins_follows_the_aws_files(monkeypatch, tmp_path):
    """Shell completion remembers who is logged in; a profile written or rotated in the AWS
    chain's files must show at the next TAB, as a changed variable does."""
    from forge_ipy import login_memo

    def bedrock_login():
        found = [p for p in login_memo.current()["providers"] if p[0] == "bedrock"]
        return found[0][1] if found else None

    assert bedrock_login() is None
    write_aws_files(tmp_path, "[default]\naws_access_key_id = A\naws_secret_access_key = B\n",
                    "[default]\nregion = us-west-2\n")
    first = bedrock_login()
    assert first is not None
    write_aws_files(tmp_path, "[default]\naws_access_key_id = A\naws_secret_access_key = C2\n",
                    "[default]\nregion = us-west-2\n")  # a rotated secret
    assert bedrock_login() not in (None, first)


# -- chat -----------------------------------------------------------------------------------
def test_chat_with_an_azure_model_sends_the_key_in_api_key(azure):
    import forge_ipy
    from forge_ipy.testing import echo_reply

    reply = forge_ipy.chat("hello there", model="azure/gpt-4o")

    assert reply.text == echo_reply("hello there")
    [post] = [r for r in azure.requests_for("azure") if r.path.endswith("/chat/completions")]
    assert post.path == "/azure/openai/v1/chat/completions"
    assert post.auth_headers == ("api-key",)


def test_chat_with_a_bedrock_model_is_refused_with_what_to_use(bedrock):
    import forge_ipy
    from forge_ipy.errors import SelectionError

    with pytest.raises(SelectionError, match="bedrock-runtime") as refused:
        forge_ipy.chat("hello", model="bedrock/amazon.nova-pro-v1:0")

    assert "\n" not in str(refused.value)
    assert not [r for r in bedrock.requests_for("bedrock") if "foundation" not in r.path]
