#compdef ntpdate

autoload -U is-at-least

_ntpdate() {
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

(( $+functions[_ntpdate_commands] )) ||
_ntpdate_commands() {
    local commands; commands=()
    _describe -t commands 'ntpdate commands' commands "$@"
}

if [ "$funcstack[1]" = "_ntpdate" ]; then
    _ntpdate "$@"
else
    compdef _ntpdate ntpdate
fi
