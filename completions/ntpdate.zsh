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
'-a+[Authenticate with this key id from the keys file]:key#:_default' \
'-e+[Authentication delay in seconds (accepted for compatibility, 0-1)]:delay:_default' \
'-k+[Keys file \[default\: /etc/ntp.keys\]]:file:_files' \
'-o+[NTP version to send, 1-4 \[default\: 4\]]:version#:_default' \
'-p+[Samples per server, 1-8 \[default\: 4\]]:samples:_default' \
'-t+[Seconds to wait for each reply, in 0.2 s steps, at least 1 \[default\: 2\]]:timeo:_default' \
'--color=[Colour the output\: auto (on a terminal, honouring NO_COLOR/CLICOLOR), always or never]::WHEN:(auto always never)' \
'(-6)-4[Use IPv4 addresses only]' \
'-6[Use IPv6 addresses only]' \
'-b[Always step the clock (settimeofday)]' \
'-B[Always slew the clock (adjtime), even past 0.5 s]' \
'-d[Debug\: show every sample and the selection; never set the clock]' \
'-q[Query only\: print, do not set the clock]' \
'-s[Log the result to syslog instead of standard output]' \
'-u[Use an unprivileged source port (ntpkit always does)]' \
'-v[Log the version]' \
'--rank[Rank the servers in a table (see docs/ntpdate.md); never sets the clock]' \
'--json[The ranking as JSON, for scripts; never sets the clock]' \
'-h[Print help]' \
'--help[Print help]' \
'*::servers:_hosts' \
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
