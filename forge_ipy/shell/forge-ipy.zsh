#compdef forge-ipy
# zsh completion for forge-ipy.
#
# Either source it after `compinit` (e.g. in ~/.zshrc):
#     source <(forge-ipy completion zsh)
# or save it as `_forge-ipy` in a folder on $fpath before `compinit` runs:
#     forge-ipy completion zsh > ~/.zfunc/_forge-ipy
#
# Model names come from `forge-ipy complete models PREFIX`, which reads the file cache only,
# so TAB stays instant. They contain `/` and `:` (openrouter/openai/gpt-4o,
# ollama/llama3.2:latest), so they are added with plain compadd, never through _describe or
# _values, which would read a `:` as the start of a description.

# The Python that runs forge-ipy, written in by `forge-ipy completion zsh`: asking it directly
# skips the console-script wrapper, whose `import re` alone costs a TAB a third of its time.
# Where it is gone (or this file was copied from the source tree), `forge-ipy` answers.
_forge_ipy_python=@PYTHON@

_forge_ipy_complete() {
  if [[ -x $_forge_ipy_python ]]; then
    $_forge_ipy_python -c 'import sys; from forge_ipy.complete import main; sys.exit(main(sys.argv[1:]))' "$@" 2>/dev/null && return
  fi
  forge-ipy complete "$@" 2>/dev/null
}

# Cached models matching what is typed. The command already matched the prefix, also against the
# bare model id (`gpt` offers `openai/gpt-4o`), so -U keeps zsh from filtering again.
_forge_ipy_models() {
  local -a expl models
  models=(${(f)"$(_call_program models _forge_ipy_complete models ${(q)PREFIX})"})
  _wanted models expl 'model' compadd -U -- $models
}

_forge_ipy_providers() {
  local -a expl providers
  providers=(${(f)"$(_call_program providers _forge_ipy_complete providers)"})
  _wanted providers expl 'provider' compadd -- $providers
}

_forge_ipy_commands() {
  local -a commands
  commands=(
    'models:list every model of every logged-in provider'
    'select:pick a model (and with it its provider)'
    'current:show the selected model'
    'chat:send a prompt to the selected model'
    'providers:list providers and whether you are logged in'
    'login:save an API key for a provider'
    'logout:forget the saved API key of a provider'
    'cache:inspect, clear or refresh the model cache'
    'complete:print completion candidates (used by shell completion)'
    'completion:print the shell completion script'
  )
  _describe -t commands 'forge-ipy command' commands
}

_forge_ipy() {
  local curcontext="$curcontext" state state_descr line ret=1
  local -A opt_args

  _arguments -C \
    '(- :)'{-h,--help}'[show help and exit]' \
    '1: :_forge_ipy_commands' \
    '*:: :->command' && ret=0

  [[ $state == command ]] || return ret
  curcontext="${curcontext%:*:*}:forge-ipy-$words[1]:"
  local -a help
  help=('(- :)'{-h,--help}'[show help and exit]')
  case $words[1] in
    models)
      _arguments -S $help \
        '*'{-p+,--provider=}'[limit the fetch and the output to a provider]:provider:_forge_ipy_providers' \
        '--refresh[fetch again instead of using the cache]' \
        '(--porcelain)--json[print JSON]' \
        '(--json)--porcelain[print tab-separated lines for scripts]' && ret=0
      ;;
    select)
      _arguments $help '1:model:_forge_ipy_models' && ret=0
      ;;
    current)
      _arguments $help '--json[print JSON]' && ret=0
      ;;
    chat)
      _arguments $help '--system=[a system prompt]:text: ' \
        '--max-tokens=[the most tokens the reply may have]:number: ' \
        '--temperature=[sampling temperature, 0 to 2]:temperature: ' \
        '1:model:_forge_ipy_models' '*:prompt: ' && ret=0
      ;;
    providers)
      _arguments $help '--json[print JSON]' && ret=0
      ;;
    login|logout)
      _arguments $help '1:provider:_forge_ipy_providers' && ret=0
      ;;
    cache)
      _arguments -C $help '1: :->cache_command' '*:: :->cache_args' && ret=0
      case $state in
        cache_command)
          local -a cache_commands
          cache_commands=(
            'stats:show where the cache is and what it holds'
            'clear:forget cached model lists'
            'refresh:fetch every model list again'
          )
          _describe -t cache-commands 'cache command' cache_commands && ret=0
          ;;
        cache_args)
          case $words[1] in
            clear)
              _arguments -S $help \
                '*--provider=[forget only this provider]:provider:_forge_ipy_providers' && ret=0
              ;;
            refresh)
              _arguments $help '--quiet[print nothing]' && ret=0
              ;;
            *) _arguments $help && ret=0 ;;
          esac
          ;;
      esac
      ;;
    complete)
      _arguments '1:what:(models providers)' '2:prefix: ' && ret=0
      ;;
    completion)
      _arguments $help '1:shell:(zsh bash)' && ret=0
      ;;
  esac
  return ret
}

# Autoloaded from $fpath: this file is the body of `_forge-ipy`; complete now.
# Sourced: register the function (compinit must have run, for `compdef`).
if [[ $funcstack[1] == _forge[-_]ipy ]]; then
  _forge_ipy "$@"
elif (( $+functions[compdef] )); then
  compdef _forge_ipy forge-ipy
else
  print -u2 "forge-ipy: run 'autoload -Uz compinit && compinit' before sourcing this completion"
fi
