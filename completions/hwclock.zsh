#compdef hwclock

autoload -U is-at-least

_hwclock() {
    typeset -A opt_args
    typeset -a _arguments_options
    local ret=1

    if is-at-least 5.2; then
        _arguments_options=(-s -S -C)
    else
        _arguments_options=(-s -C)
    fi

    local context curcontext="$curcontext" state line
    _arguments "${_arguments_options[@]}" : \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
}

(( $+functions[_hwclock_commands] )) ||
_hwclock_commands() {
    local commands; commands=()
    _describe -t commands 'hwclock commands' commands "$@"
}

if [ "$funcstack[1]" = "_hwclock" ]; then
    _hwclock "$@"
else
    compdef _hwclock hwclock
fi
