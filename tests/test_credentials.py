"""The credential store and the salted fingerprints that tie cache entries to a key and root."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import stat
import subprocess
import sys
import time

import pytest

from forge_ipy import credentials
from forge_ipy.credentials import delete_key, fingerprint, load_store, save_key, store_path
from forge_ipy.errors import CredentialError


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_store_lives_in_the_config_folder(tmp_path):
    assert store_path().parent == tmp_path / "config"
    assert load_store() == {}


def test_save_key_writes_an_owner_only_file():
    save_key("openai", "  sk-openai \n")
    save_key("anthropic", "sk-ant")

    assert mode(store_path()) == 0o600
    assert load_store() == {"openai": "sk-openai", "anthropic": "sk-ant"}
    assert json.loads(store_path().read_text()) == load_store()


def test_save_key_replaces_an_earlier_key():
    save_key("openai", "old")
    save_key("openai", "new")

    assert load_store() == {"openai": "new"}


def test_change_within_one_clock_tick_is_seen():
    """Some file systems stamp times coarsely: a rewrite may keep the old mtime."""
    save_key("openai", "old")
    before = store_path().stat()
    assert load_store() == {"openai": "old"}

    save_key("openai", "new-key")
    os.utime(store_path(), ns=(before.st_atime_ns, before.st_mtime_ns))

    assert load_store() == {"openai": "new-key"}


def test_delete_key():
    save_key("openai", "sk-openai")
    save_key("groq", "gsk")

    assert delete_key("openai") is True
    assert delete_key("openai") is False
    assert delete_key("never-saved") is False
    assert load_store() == {"groq": "gsk"}
    assert mode(store_path()) == 0o600


def test_unreadable_store_is_a_credential_error():
    store_path().parent.mkdir(parents=True)
    store_path().write_text("{not json")

    with pytest.raises(CredentialError, match="forge-ipy login"):
        load_store()


def test_fingerprint_is_stable_and_follows_key_and_root():
    base = fingerprint("sk-secret-key", "https://api.openai.com/v1")

    assert fingerprint("sk-secret-key", "https://api.openai.com/v1") == base
    credentials.forget_fingerprints()  # computed afresh from the saved salt: still equal
    assert fingerprint("sk-secret-key", "https://api.openai.com/v1") == base
    others = {
        fingerprint("sk-other-key", "https://api.openai.com/v1"),
        fingerprint("sk-secret-key", "https://proxy.test/v1"),
        fingerprint(None, "https://api.openai.com/v1"),
    }
    assert base not in others and len(others) == 3


def test_fingerprint_reveals_nothing_of_the_key():
    found = fingerprint("sk-secret-key", "https://api.openai.com/v1")

    assert "sk-secret-key" not in found
    assert "secret" not in found


def test_fingerprint_is_salted_per_config_folder(tmp_path, monkeypatch):
    first = fingerprint("sk-secret-key", "https://api.openai.com/v1")
    salt = tmp_path / "config" / credentials.SALT_NAME
    assert mode(salt) == 0o600
    assert len(salt.read_bytes()) >= 16

    monkeypatch.setenv("FORGE_IPY_CONFIG_DIR", str(tmp_path / "elsewhere"))

    assert fingerprint("sk-secret-key", "https://api.openai.com/v1") != first


def test_a_damaged_salt_is_replaced_and_then_shared():
    """A salt file cut short (a crash mid-write, a full disk) is not used as a salt."""
    salt_file = credentials.config_dir() / credentials.SALT_NAME
    salt_file.parent.mkdir(parents=True, exist_ok=True)
    salt_file.write_bytes(b"")
    first = credentials.fingerprint("k", "https://a/v1")
    assert len(salt_file.read_bytes()) == 32
    credentials.forget_fingerprints()
    assert credentials.fingerprint("k", "https://a/v1") == first
    assert first != hmac.new(b"", b"k\x00https://a/v1", hashlib.sha256).hexdigest()[:32]


def test_a_salt_put_in_place_by_another_process_is_kept(monkeypatch):
    """Another process saves its salt between our read and our write: we take its salt and
    leave it in place, so fingerprints agree across processes (a replaced salt used to make
    a just-written cache entry look foreign)."""
    salt_file = credentials.config_dir() / credentials.SALT_NAME
    salt_file.parent.mkdir(parents=True, exist_ok=True)
    theirs = b"t" * 32
    salt_file.write_bytes(theirs)
    reads = iter([None])  # our first read found nothing: the other process was not done yet
    real_read = credentials._read_salt
    monkeypatch.setattr(credentials, "_read_salt", lambda path: next(reads, real_read(path)))

    found = credentials.fingerprint("k", "https://a/v1")

    assert salt_file.read_bytes() == theirs
    assert found == hmac.new(theirs, b"k\x00https://a/v1", hashlib.sha256).hexdigest()[:32]
    assert list(salt_file.parent.iterdir()) == [salt_file]  # no temporary file left behind


def test_processes_starting_together_share_one_salt():
    """Eight processes make the salt at once; every one computes the same fingerprint."""
    code = ("import sys, time; from forge_ipy.credentials import fingerprint; "
            "time.sleep(max(0.0, float(sys.argv[1]) - time.time())); "
            "print(fingerprint('k', 'https://a/v1'))")
    start = time.time() + 1.5  # all imports done, then all race for the salt together
    runs = [subprocess.Popen([sys.executable, "-c", code, str(start)], stdout=subprocess.PIPE,
                             text=True) for _ in range(8)]
    printed = {run.communicate(timeout=60)[0].strip() for run in runs}

    assert all(run.returncode == 0 for run in runs)
    assert len(printed) == 1
    credentials.forget_fingerprints()
    assert printed == {credentials.fingerprint("k", "https://a/v1")}


@pytest.mark.parametrize("content", ["[1, 2]", '"a string"'])
def test_a_store_that_is_json_but_not_an_object_is_a_clear_error(content):
    store_path().parent.mkdir(parents=True, exist_ok=True)
    store_path().write_text(content)
    with pytest.raises(CredentialError, match="unreadable; remove it"):
        load_store()
