# bash completion for forge-ipy.
#
# Source it from ~/.bashrc:
#     source <(forge-ipy completion bash)
# or save it as ~/.local/share/bash-completion/completions/forge-ipy.
#
# Needs no bash-completion package. Model names contain `/` and `:` (openrouter/openai/gpt-4o,
# ollama/llama3.2:latest); bash splits words at `:` (COMP_WORDBREAKS), so the words are re-read
# from COMP_LINE and the part before the last `:` is trimmed from each candidate, as
# bash-completion's __ltrim_colon_completions does.

# The Python that runs forge-ipy, written in by `forge-ipy completion bash`: asking it directly
# skips the console-script wrapper, whose `import re` alone costs a TAB a third of its time.
# Where it is gone (or this file was copied from the source tree), `forge-ipy` answers.
_forge_ipy_python=@PYTHON@

_forge_ipy_complete() {
    if [[ -x $_forge_ipy_python ]]; then
        "$_forge_ipy_python" -c 'import sys; from forge_ipy.complete import main; sys.exit(main(sys.argv[1:]))' "$@" 2>/dev/null && return
    fi
    forge-ipy complete "$@" 2>/dev/null
}

_forge_ipy() {
    local line=${COMP_LINE:0:COMP_POINT}
    local -a words
    read -r -a words <<< "$line"
    # A trailing blank starts a new, empty word.
    [[ $line =~ [[:space:]]$ || ${#words[@]} -eq 0 ]] && words+=("")
    local cword=$(( ${#words[@]} - 1 ))
    local cur=${words[cword]} prev=
    (( cword > 0 )) && prev=${words[cword-1]}
    local cmd=${words[1]-} sub=${words[2]-}
    COMPREPLY=()

    local commands="models select current chat providers login logout cache complete completion"
    local -a candidates=()
    local word

    if (( cword == 1 )); then
        candidates=($(compgen -W "$commands -h --help" -- "$cur"))
    else
        case $cmd in
            models)
                if [[ $prev == -p || $prev == --provider ]]; then
                    _forge_ipy_from providers "$cur"
                elif [[ $cur == --provider=* ]]; then
                    # `=` is a word break too: readline replaces only what follows it.
                    _forge_ipy_from providers "${cur#*=}"
                else
                    candidates=($(compgen -W "-p --provider --refresh --json --porcelain -h --help" -- "$cur"))
                fi
                ;;
            select)
                if (( cword == 2 )) && [[ $cur != -* ]]; then
                    # The command matched the prefix already (also against the bare model id).
                    _forge_ipy_from models "$cur"
                else
                    candidates=($(compgen -W "-h --help" -- "$cur"))
                fi
                ;;
            chat)
                if (( cword == 2 )) && [[ $cur != -* ]]; then
                    while IFS= read -r word; do
                        [[ -n $word ]] && candidates+=("$word")
                    done < <(forge-ipy complete models "$cur" 2>/dev/null)
                elif [[ $cur == -* ]]; then
                    candidates=($(compgen -W "--system --max-tokens --temperature -h --help" -- "$cur"))
                fi
                ;;
            current|providers)
                candidates=($(compgen -W "--json -h --help" -- "$cur"))
                ;;
            login|logout)
                if (( cword == 2 )); then
                    _forge_ipy_from providers "$cur"
                fi
                ;;
            cache)
                if (( cword == 2 )); then
                    candidates=($(compgen -W "stats clear refresh -h --help" -- "$cur"))
                elif [[ $sub == clear && ( $prev == --provider ) ]]; then
                    _forge_ipy_from providers "$cur"
                elif [[ $sub == clear && $cur == --provider=* ]]; then
                    _forge_ipy_from providers "${cur#*=}"
                elif [[ $sub == clear ]]; then
                    candidates=($(compgen -W "--provider -h --help" -- "$cur"))
                elif [[ $sub == refresh ]]; then
                    candidates=($(compgen -W "--quiet -h --help" -- "$cur"))
                fi
                ;;
            complete)
                (( cword == 2 )) && candidates=($(compgen -W "models providers" -- "$cur"))
                ;;
            completion)
                (( cword == 2 )) && candidates=($(compgen -W "zsh bash" -- "$cur"))
                ;;
        esac
    fi

    # Readline completes only the text after the last `:` when `:` breaks words, so a candidate
    # must start with the typed text up to that `:`; the rest is what replaces the word.
    local colon_prefix=
    if [[ $cur == *:* && $COMP_WORDBREAKS == *:* && $cur != --provider=* ]]; then
        colon_prefix=${cur%"${cur##*:}"}
    fi
    # Inserted quoted (printf %q): a name such as `x;touch${IFS}/tmp/pwned` or `$(...)` is an
    # argument, never a command. Readline inserts COMPREPLY as it is.
    for word in "${candidates[@]}"; do
        [[ $word == "$colon_prefix"* ]] || continue
        printf -v word %q "${word#"$colon_prefix"}"
        COMPREPLY+=("$word")
    done
    return 0
}

# Candidates one a line from `_forge_ipy_complete KIND PREFIX`, added to the caller's
# `candidates`: never through `compgen -W`, which would expand `$(...)` inside a name.
_forge_ipy_from() {
    local word
    while IFS= read -r word; do
        [[ -n $word ]] && candidates+=("$word")
    done < <(_forge_ipy_complete "$1" "$2")
}

complete -F _forge_ipy forge-ipy
