"""The shipped zsh and bash scripts, run in real shells against a hand-made cache.

zsh: a driver script opens an interactive `zsh -f -i` in a pseudo-terminal (the zpty module),
loads compinit and our script there, types a command line and TAB, and reads back either every
match zsh offered (compadd is wrapped to print them) or the command line after the TAB.
bash: the completion function is called with COMP_LINE/COMP_POINT/COMP_WORDS set as bash would.
`forge-ipy` on PATH is a shim running `python -m forge_ipy.complete`, so only our code is tested.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from forge_ipy import complete, credentials
from forge_ipy.cache import CacheFile
from forge_ipy.providers import registry

SHELL_DIR = Path(complete.__file__).parent / "shell"
ZSH = shutil.which("zsh")
BASH = shutil.which("bash")

KEY_VARS = registry.environment_variables()  # keys, API roots, the config folder

# provider id -> (key variable, key, root, model ids)
PROVIDERS = {
    "openai": ("OPENAI_API_KEY", "sk-openai", "http://127.0.0.1:9/openai/v1",
               ["gpt-4o", "gpt-4o-mini", "o3"]),
    "openrouter": ("OPENROUTER_API_KEY", "sk-or", "http://127.0.0.1:9/openrouter/v1",
                   ["openai/gpt-4o", "anthropic/claude-3.5-sonnet"]),
    "ollama": (None, None, "http://127.0.0.1:9/ollama", ["llama3.2:latest", "llama3.2:1b"]),
}

# Runs inside the pseudo-terminal's zsh: load completion and our script, then arm the capture.
SETUP_ZSH = r"""
PROMPT= RPROMPT= PS2=
unsetopt beep
if [[ $3 == fpath ]]; then
  mkdir -p $4 && cp $1 $4/_forge-ipy && fpath=($4 $fpath)
  autoload -Uz compinit && compinit -u -D
else
  autoload -Uz compinit && compinit -u -D
  source $1
fi
bindkey '^M' undefined
bindkey '^J' undefined
bindkey '^I' complete-word
zstyle ':completion:*' list-grouped false
zstyle ':completion:*' insert-tab false
if [[ $2 == list ]]; then
  # Print each match zsh accepts (compadd -A applies zsh's own matching), then quit.
  __forge_end() { exit }
  comppostfuncs=(__forge_end)
  compadd() {
    if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then
      builtin compadd "$@"; return
    fi
    local -a __hits
    builtin compadd -A __hits "$@"
    local h
    for h in $__hits; do print -r -- "<<HIT>>$h<<END>>"; done
    builtin compadd "$@"
  }
else
  # After the TAB, a key prints the command line as it now stands, then quits.
  __forge_dump() { print -rn -- $'\n<<BUF>>'"$BUFFER"$'<<END>>\n'; exit }
  zle -N __forge_dump
  bindkey '^X^B' __forge_dump
fi
print -- "<<SETUP""-OK>>"
"""

# zsh -f driver.zsh SETUP SCRIPT MODE HOW FPATH_DIR LINE: type LINE and TAB in a fresh zsh.
DRIVER_ZSH = r"""
zmodload zsh/zpty || exit 3
setup=$1 script=$2 mode=$3 how=$4 dir=$5 input=$6
zpty z zsh -f -i
zpty -w z "source ${(q)setup} ${(q)script} $mode $how ${(q)dir}"
zpty -r z line '*<<SETUP-OK>>*'
if [[ $mode == list ]]; then
  zpty -w -n z "$input"$'\t'
else
  zpty -w -n z "$input"$'\t\C-x\C-b'
fi
while zpty -r z line; do print -rn -- $line; done
"""

BASH_CALL = r"""
source "$1"
COMP_LINE=$2
COMP_POINT=${#COMP_LINE}
# What bash itself would pass: words split at blanks and at COMP_WORDBREAKS (`:` and `=` here).
COMP_WORDS=($(printf '%s' "$COMP_LINE" | sed -e 's/\([:=]\)/ \1 /g'))
[[ $COMP_LINE == *' ' ]] && COMP_WORDS+=("")
COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
_forge_ipy forge-ipy "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}"
"""


def _has_zpty() -> bool:
    if not ZSH:
        return False
    probe = subprocess.run([ZSH, "-fc", "zmodload zsh/zpty"], capture_output=True, timeout=30)
    return probe.returncode == 0


@pytest.fixture
def shell_env(tmp_path, monkeypatch) -> dict[str, str]:
    """Environment for the shells: our cache, our keys, a `forge-ipy` shim first on PATH."""
    for name in list(os.environ):
        if name.startswith("FORGE_") or name in KEY_VARS:
            monkeypatch.delenv(name)
    monkeypatch.setenv("FORGE_IPY_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("FORGE_IPY_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv(complete.NO_REFRESH_ENV, "1")
    credentials.forget_fingerprints()
    entries = {}
    for pid, (var, key, root, ids) in PROVIDERS.items():
        monkeypatch.setenv(f"FORGE_{pid.upper()}_BASE_URL", root)
        if var:
            monkeypatch.setenv(var, key)
        entries[pid] = {
            "provider_id": pid, "fingerprint": credentials.fingerprint(key, root),
            "fetched_at": time.time(),
            "models": [{"provider_id": pid, "id": i, "name": i} for i in ids],
        }
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "models.json").write_text(json.dumps({"schema": 2, "entries": entries}))
    CacheFile(cache / "models.json").write({})  # the cache's writer adds the names index
    credentials.forget_fingerprints()

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "forge-ipy"
    shim.write_text(
        "#!/bin/sh\n"
        '[ "$1" = complete ] && shift\n'
        f'exec "{sys.executable}" -m forge_ipy.complete "$@"\n'
    )
    shim.chmod(0o755)
    env = dict(os.environ)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("TERM", "xterm")
    return env


def _zsh(env: dict[str, str], tmp_path: Path, mode: str, line: str, how: str,
         script: Path = SHELL_DIR / "forge-ipy.zsh") -> str:
    setup = tmp_path / "setup.zsh"
    driver = tmp_path / "driver.zsh"
    setup.write_text(SETUP_ZSH)
    driver.write_text(DRIVER_ZSH)
    args = [ZSH, "-f", str(driver), str(setup), str(script), mode, how,
            str(tmp_path / "fpath"), line]
    result = subprocess.run(args, capture_output=True, text=True, env=env, timeout=60)
    return result.stdout


def zsh_matches(env: dict[str, str], tmp_path: Path, line: str, how: str = "source",
                script: Path = SHELL_DIR / "forge-ipy.zsh") -> list[str]:
    """Every match zsh offers for `line` followed by TAB."""
    out = _zsh(env, tmp_path, "list", line, how, script)
    return [part.split("<<END>>")[0] for part in out.split("<<HIT>>")[1:]]


def zsh_after_tab(env: dict[str, str], tmp_path: Path, line: str, how: str = "source") -> str:
    """The command line after typing `line` and pressing TAB once."""
    out = _zsh(env, tmp_path, "buffer", line, how)
    assert "<<BUF>>" in out, out
    return out.split("<<BUF>>")[1].split("<<END>>")[0]


zsh = pytest.mark.skipif(not _has_zpty(), reason="needs zsh with the zpty module")


@pytest.mark.zsh
@zsh
@pytest.mark.parametrize("how", ["source", "fpath"])
def test_zsh_subcommands(shell_env, tmp_path, how):
    found = zsh_matches(shell_env, tmp_path, "forge-ipy ", how)
    assert {"models", "select", "current", "chat", "providers", "login", "logout", "cache",
            "complete", "completion"} <= set(found)


def without_forge_ipy(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """`env` with a `forge-ipy` first on PATH that fails: only a script that asks forge-ipy's
    Python directly still completes."""
    broken = tmp_path / "broken-bin"
    broken.mkdir(exist_ok=True)
    (broken / "forge-ipy").write_text("#!/bin/sh\nexit 1\n")
    (broken / "forge-ipy").chmod(0o755)
    return {**env, "PATH": f"{broken}{os.pathsep}{env.get('PATH', '')}"}


@pytest.mark.zsh
@zsh
@pytest.mark.parametrize("how", ["source", "fpath"])
def test_zsh_printed_script_asks_this_python_directly(shell_env, tmp_path, how):
    printed = tmp_path / "printed.zsh"
    printed.write_text(complete.completion_script("zsh"))
    env = without_forge_ipy(shell_env, tmp_path)
    assert zsh_matches(env, tmp_path, "forge-ipy select gp", how, printed) == [
        "openai/gpt-4o", "openai/gpt-4o-mini",
    ]
    assert zsh_matches(env, tmp_path, "forge-ipy select gp", how) == []  # the shipped file


@pytest.mark.zsh
@zsh
@pytest.mark.parametrize("how", ["source", "fpath"])
def test_zsh_select_offers_models_by_bare_prefix(shell_env, tmp_path, how):
    assert zsh_matches(shell_env, tmp_path, "forge-ipy select gp", how) == [
        "openai/gpt-4o", "openai/gpt-4o-mini",
    ]
    assert zsh_after_tab(shell_env, tmp_path, "forge-ipy select gp", how) == (
        "forge-ipy select openai/gpt-4o"  # the common part of both
    )


@pytest.mark.zsh
@zsh
def test_zsh_chat_offers_models_then_options(shell_env, tmp_path):
    assert zsh_matches(shell_env, tmp_path, "forge-ipy chat gp") == [
        "openai/gpt-4o", "openai/gpt-4o-mini",
    ]
    assert "--max-tokens" in zsh_matches(shell_env, tmp_path, "forge-ipy chat --")


@pytest.mark.zsh
@zsh
@pytest.mark.parametrize(("typed", "expected"), [
    ("forge-ipy select openrouter/op", "forge-ipy select openrouter/openai/gpt-4o "),
    ("forge-ipy select ollama/llama3.2:la", "forge-ipy select ollama/llama3.2:latest "),
    ("forge-ipy select llama3.2:l", "forge-ipy select ollama/llama3.2:latest "),
])
def test_zsh_names_with_slash_and_colon_arrive_intact(shell_env, tmp_path, typed, expected):
    assert zsh_after_tab(shell_env, tmp_path, typed) == expected


@pytest.mark.zsh
@zsh
def test_zsh_select_lists_every_model(shell_env, tmp_path):
    assert zsh_matches(shell_env, tmp_path, "forge-ipy select ") == [
        "ollama/llama3.2:1b", "ollama/llama3.2:latest", "openai/gpt-4o", "openai/gpt-4o-mini",
        "openai/o3", "openrouter/anthropic/claude-3.5-sonnet", "openrouter/openai/gpt-4o",
    ]


@pytest.mark.zsh
@zsh
@pytest.mark.parametrize(("typed", "expected"), [
    ("forge-ipy models --", {"--provider", "--refresh", "--json", "--porcelain"}),
    ("forge-ipy models --provider op", {"openai", "openrouter"}),
    ("forge-ipy models -p op", {"openai", "openrouter"}),
    ("forge-ipy login gem", {"gemini"}),
    ("forge-ipy logout ", {"openai", "anthropic", "ollama"}),
    ("forge-ipy cache ", {"stats", "clear", "refresh"}),
    ("forge-ipy cache clear --", {"--provider"}),
    ("forge-ipy completion ", {"zsh", "bash"}),
])
def test_zsh_options_and_arguments(shell_env, tmp_path, typed, expected):
    assert expected <= set(zsh_matches(shell_env, tmp_path, typed))


@pytest.mark.zsh
@zsh
def test_zsh_script_sourced_before_compinit_says_so(shell_env):
    script = SHELL_DIR / "forge-ipy.zsh"
    result = subprocess.run([ZSH, "-fc", f"source {script}"], capture_output=True, text=True,
                            env=shell_env, timeout=60)
    assert "compinit" in result.stderr


bash = pytest.mark.skipif(not BASH, reason="needs bash")


# -- names that try to run a command ------------------------------------------------------
# What a hostile provider could name a model: each must be completed as one argument and
# arrive intact, running nothing. `{marker}` is a file that must never be created.
HOSTILE_IDS = [
    "evil1;touch${IFS}{marker}",
    "evil2$(touch${IFS}{marker})",
    "evil3`touch${IFS}{marker}`",
    "evil4 'q\"x|touch${IFS}{marker}&",
]


@pytest.fixture
def hostile_env(shell_env, tmp_path) -> dict[str, str]:
    """`shell_env` with hostile OpenAI ids cached, and a `forge-ipy` that records its arguments
    as JSON in `args.json` (completion still answers from our code)."""
    cache = tmp_path / "cache" / "models.json"
    data = json.loads(cache.read_text())
    marker = tmp_path / "pwned"
    models = data["entries"]["openai"]["models"]
    models += [{"provider_id": "openai", "id": i.replace("{marker}", str(marker)), "name": "x"}
               for i in HOSTILE_IDS]
    models.append({"provider_id": "openai", "id": "evil5\ntouch " + str(marker), "name": "x"})
    cache.write_text(json.dumps(data))
    CacheFile(cache).write({})  # the names index for completion, as the cache writes it
    (tmp_path / "bin" / "forge-ipy").write_text(
        "#!/bin/sh\n"
        'if [ "$1" = complete ]; then shift; '
        f'exec "{sys.executable}" -m forge_ipy.complete "$@"; fi\n'
        f'exec "{sys.executable}" -c "import json, sys; '
        f"open(sys.argv[1], 'w').write(json.dumps(sys.argv[2:]))\" {tmp_path / 'args.json'} "
        '"$@"\n'
    )
    return shell_env


def _hostile(tmp_path: Path, number: int) -> str:
    return "openai/" + HOSTILE_IDS[number - 1].replace("{marker}", str(tmp_path / "pwned"))


def _ran(tmp_path: Path) -> list[str]:
    """The arguments the completed command line passed to `forge-ipy`."""
    assert not (tmp_path / "pwned").exists(), "a model name ran a command"
    return json.loads((tmp_path / "args.json").read_text())


def bash_interactive(env: dict[str, str], tmp_path: Path, typed: str) -> None:
    """Type `typed`, TAB and Enter in a real interactive bash on a pseudo-terminal, with our
    completion loaded: the completed line runs as the user would run it."""
    import pty
    import select

    master, slave = pty.openpty()
    shell = subprocess.Popen([BASH, "--norc", "--noprofile", "-i"], stdin=slave, stdout=slave,
                             stderr=slave, env={**env, "PS1": "<<PS>> "},
                             start_new_session=True)
    os.close(slave)
    seen = b""

    def until(marker: bytes) -> None:
        nonlocal seen
        deadline = time.monotonic() + 60
        while marker not in seen and time.monotonic() < deadline:
            if select.select([master], [], [], 1)[0]:
                try:
                    seen += os.read(master, 65536)
                except OSError:
                    break
        assert marker in seen, seen.decode(errors="replace")

    try:
        os.write(master, f"source {SHELL_DIR / 'forge-ipy.bash'}; echo '<<READ''Y>>'\n".encode())
        until(b"<<READY>>")
        seen = seen[seen.index(b"<<READY>>"):]
        until(b"<<PS>>")  # the prompt after it: readline has the terminal, TAB is a key
        seen = b""
        os.write(master, typed.encode() + b"\t")
        until(b"evil")  # the TAB's completion is on the line
        time.sleep(0.2)  # let readline finish redrawing before Enter
        os.write(master, b"\n")
        until(b"<<PS>>")
        os.write(master, b"exit\n")
        shell.wait(timeout=60)
    finally:
        if shell.poll() is None:
            shell.kill()
            shell.wait()
        os.close(master)


@bash
@pytest.mark.parametrize("number", [1, 2, 3, 4])
def test_bash_inserts_a_hostile_name_quoted_and_it_runs_nothing(hostile_env, tmp_path, number):
    typed = f"forge-ipy select openai/evil{number}"
    bash_interactive(hostile_env, tmp_path, typed)
    assert _ran(tmp_path) == ["select", _hostile(tmp_path, number)]


@bash
def test_bash_offers_no_name_with_a_newline(hostile_env):
    assert bash_complete(hostile_env, "forge-ipy select openai/evil5") == []


@pytest.mark.zsh
@zsh
@pytest.mark.parametrize("number", [1, 2, 3, 4])
def test_zsh_inserts_a_hostile_name_quoted_and_it_runs_nothing(hostile_env, tmp_path, number):
    line = zsh_after_tab(hostile_env, tmp_path, f"forge-ipy select openai/evil{number}")
    assert line.startswith(f"forge-ipy select openai/evil{number}")
    subprocess.run([ZSH, "-f", "-c", line], env=hostile_env, timeout=60, check=True)
    assert _ran(tmp_path) == ["select", _hostile(tmp_path, number)]


@pytest.mark.zsh
@zsh
def test_zsh_offers_no_name_with_a_newline(hostile_env, tmp_path):
    assert zsh_matches(hostile_env, tmp_path, "forge-ipy select openai/evil5") == []


def bash_complete(env: dict[str, str], line: str, script: Path = SHELL_DIR / "forge-ipy.bash",
                  ) -> list[str]:
    """COMPREPLY of our function for `line` with the cursor at its end."""
    args = [BASH, "--norc", "--noprofile", "-c", BASH_CALL, "bash", str(script), line]
    result = subprocess.run(args, capture_output=True, text=True, env=env, timeout=60)
    assert result.stderr == ""
    return [word for word in result.stdout.split("\n") if word]


@bash
@pytest.mark.parametrize(("line", "expected"), [
    ("forge-ipy sel", ["select"]),
    ("forge-ipy select gp", ["openai/gpt-4o", "openai/gpt-4o-mini"]),
    ("forge-ipy select openrouter/op", ["openrouter/openai/gpt-4o"]),
    # bash replaces only the text after the last `:`, so that is all we answer with.
    ("forge-ipy select ollama/llama3.2:", ["1b", "latest"]),
    ("forge-ipy select ollama/llama3.2:la", ["latest"]),
    ("forge-ipy models -p op", ["openai", "openrouter"]),
    ("forge-ipy models --provider=op", ["openai", "openrouter"]),
    ("forge-ipy cache ", ["stats", "clear", "refresh", "-h", "--help"]),
    ("forge-ipy completion ", ["zsh", "bash"]),
    ("forge-ipy login gem", ["gemini"]),
    ("forge-ipy ch", ["chat"]),
    ("forge-ipy chat gp", ["openai/gpt-4o", "openai/gpt-4o-mini"]),
    ("forge-ipy chat --max", ["--max-tokens"]),
])
def test_bash(shell_env, line, expected):
    assert bash_complete(shell_env, line) == expected


@bash
def test_bash_subcommands_and_registration(shell_env):
    found = bash_complete(shell_env, "forge-ipy ")
    assert {"models", "select", "current", "providers", "login", "logout", "cache",
            "complete", "completion"} <= set(found)
    script = SHELL_DIR / "forge-ipy.bash"
    result = subprocess.run([BASH, "--norc", "--noprofile", "-c", f"source {script}; complete -p"],
                            capture_output=True, text=True, env=shell_env, timeout=60)
    assert "complete -F _forge_ipy forge-ipy" in result.stdout


@bash
def test_the_printed_script_asks_this_python_directly(shell_env, tmp_path):
    """`forge-ipy completion bash` writes in the interpreter: a TAB needs no `forge-ipy` on
    PATH (nor its console-script wrapper); the file as shipped falls back to `forge-ipy`."""
    printed = tmp_path / "printed.bash"
    printed.write_text(complete.completion_script("bash"))
    env = without_forge_ipy(shell_env, tmp_path)
    assert bash_complete(env, "forge-ipy select gp", printed) == ["openai/gpt-4o",
                                                                  "openai/gpt-4o-mini"]
    assert bash_complete(env, "forge-ipy select gp") == []  # the shipped file asks forge-ipy
