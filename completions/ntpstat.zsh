#compdef ntpstat

autoload -U is-at-least

_ntpstat() {
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
'-m+[exit 1 when the time error bound exceeds MAXERROR milliseconds]:MAXERROR:_default' \
'-4[query 127.0.0.1 (the default)]' \
'(-4)-6[query \:\:1]' \
'-h[print the usage line and exit]' \
'--help[print the usage line and exit]' \
&& ret=0
}

(( $+functions[_ntpstat_commands] )) ||
_ntpstat_commands() {
    local commands; commands=()
    _describe -t commands 'ntpstat commands' commands "$@"
}

if [ "$funcstack[1]" = "_ntpstat" ]; then
    _ntpstat "$@"
else
    compdef _ntpstat ntpstat
fi
