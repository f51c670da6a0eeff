"""`python -m forge_ipy.testing`: the offline demo the README offers to newcomers."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys

from forge_ipy.testing import LoopbackProviders


def test_the_demo_server_prints_variables_that_work_and_keep_real_state_apart():
    server = subprocess.Popen([sys.executable, "-m", "forge_ipy.testing"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
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
        said = server.stderr.readline()
        assert said.startswith("serving 12 demo providers at http://127.0.0.1:")
        assert said.rstrip().endswith("; Ctrl-C to stop")
    finally:
        server.terminate()
        server.wait(timeout=10)
        server.stdout.close()
        server.stderr.close()


def test_the_demo_server_answers_every_provider_at_once_without_refusing():
    """Many connections at the same moment, as a fetch of every provider makes: all are
    accepted (a listen backlog of 5 would refuse some and make clients retry)."""
    import socket

    with LoopbackProviders.default() as server:
        host, port = server._server.server_address[:2]
        assert server._server.request_queue_size >= 64
        sockets = [socket.create_connection((host, port), timeout=5) for _ in range(40)]
        try:
            for sock in sockets:
                sock.sendall(b"GET /ollama/api/tags HTTP/1.0\r\n\r\n")
            answers = [sock.makefile("rb").read()[:12] for sock in sockets]
        finally:
            for sock in sockets:
                sock.close()
    assert answers == [b"HTTP/1.1 200"] * 40
