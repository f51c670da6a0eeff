"""`python -m forge_ipy.testing`: the offline demo the README offers to newcomers."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys


def test_the_demo_server_prints_variables_that_work_and_keep_real_state_apart():
    server = subprocess.Popen([sys.executable, "-m", "forge_ipy.testing"],
                              stdout=subprocess.PIPE, text=True)
    try:
        env = dict(os.environ)
        for line in server.stdout:
            name, _, value = line.removeprefix("export ").strip().partition("=")
            env[name] = shlex.split(value)[0]
            if name == "FORGE_IPY_CACHE_DIR":
                break
        assert env["FORGE_IPY_CONFIG_DIR"] != os.environ["FORGE_IPY_CONFIG_DIR"]
        listed = subprocess.run([sys.executable, "-m", "forge_ipy", "models", "--json"],
                                env=env, capture_output=True, text=True, timeout=60, check=True)
        doc = json.loads(listed.stdout)
        assert {p["id"] for p in doc["providers"] if p["ok"]} >= {"openai", "anthropic",
                                                                 "gemini", "ollama"}
        assert os.path.exists(os.path.join(env["FORGE_IPY_CACHE_DIR"], "models.json"))
    finally:
        server.terminate()
        server.wait(timeout=10)
        server.stdout.close()
