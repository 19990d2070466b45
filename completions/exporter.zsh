#compdef exporter

autoload -U is-at-least

_exporter() {
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
'--listen=[where to serve /metrics]:ADDR:PORT:_default' \
'*--allow=[also let clients in ADDR\[/LEN\] scrape (loopback always may)]:PREFIX:_default' \
'-a+[sign every mode 6 request with this key (restrict noquery lifted for it)]:KEYID:_default' \
'--keyid=[sign every mode 6 request with this key (restrict noquery lifted for it)]:KEYID:_default' \
'-k+[the ntp.keys(5) file holding KEYID]:FILE:_files' \
'--keyfile=[the ntp.keys(5) file holding KEYID]:FILE:_files' \
'--timeout=[how long to wait for each mode 6 answer (10ms to 60s; a plain number is milliseconds)]:DURATION:_default' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
'*::targets -- daemons to read\: HOST, HOST\:PORT or \[V6\]\:PORT:_default' \
&& ret=0
}

(( $+functions[_exporter_commands] )) ||
_exporter_commands() {
    local commands; commands=()
    _describe -t commands 'exporter commands' commands "$@"
}

if [ "$funcstack[1]" = "_exporter" ]; then
    _exporter "$@"
else
    compdef _exporter exporter
fi
