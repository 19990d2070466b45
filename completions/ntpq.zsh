#compdef ntpq

autoload -U is-at-least

_ntpq() {
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
'*-c+[Run a command and exit (repeatable)]:CMD:_default' \
'*--command=[Run a command and exit (repeatable)]:CMD:_default' \
'-a+[Authenticate requests with this key (needed for writevar)]:KEYID:_default' \
'--authentication=[Authenticate requests with this key (needed for writevar)]:KEYID:_default' \
'-k+[Keys file to find the -a key in \[default\: /etc/ntp.keys\]]:FILE:_files' \
'--keyfile=[Keys file to find the -a key in \[default\: /etc/ntp.keys\]]:FILE:_files' \
'--color=[Colour the output\: auto (on a terminal, honouring NO_COLOR/CLICOLOR), always or never]::WHEN:(auto always never)' \
'--watch=[Repeat the commands every DURATION (2s when not given; e.g. 500ms, 1m; a plain number is seconds), redrawing in place]::DURATION:_default' \
'--protocol=[Speak mode 6 (ntpd, NTPsec), chronyd'\''s cmdmon, or whichever answers]:PROTO:(auto mode6 chronyd)' \
'--socket=[Ask chronyd through its Unix command socket (e.g. /run/chrony/chronyd.sock)]:PATH:_files' \
'(-6 --ipv6)-4[Force IPv4 name resolution]' \
'(-6 --ipv6)--ipv4[Force IPv4 name resolution]' \
'-6[Force IPv6 name resolution]' \
'--ipv6[Force IPv6 name resolution]' \
'*-d[Trace requests and replies on stderr]' \
'*--debug-level[Trace requests and replies on stderr]' \
'-i[Force interactive mode (prompt) even with commands]' \
'--interactive[Force interactive mode (prompt) even with commands]' \
'-n[Show host addresses numerically]' \
'--numeric[Show host addresses numerically]' \
'-p[Print a list of the peers (same as -c peers)]' \
'--peers[Print a list of the peers (same as -c peers)]' \
'-w[Show long remote names in full, on a line of their own]' \
'--wide[Show long remote names in full, on a line of their own]' \
'--old-rv[Print the status line of readvar also when variables are named]' \
'--json[Print every command'\''s result as one JSON object per line]' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
'*::host -- Hosts to query (default localhost); HOST\:PORT and \[V6\]\:PORT accepted:_default' \
&& ret=0
}

(( $+functions[_ntpq_commands] )) ||
_ntpq_commands() {
    local commands; commands=()
    _describe -t commands 'ntpq commands' commands "$@"
}

if [ "$funcstack[1]" = "_ntpq" ]; then
    _ntpq "$@"
else
    compdef _ntpq ntpq
fi
