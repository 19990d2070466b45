#compdef ntpd

autoload -U is-at-least

_ntpd() {
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
'-c+[Configuration file (default /etc/ntp.conf)]:FILE:_files' \
'--configfile=[Configuration file (default /etc/ntp.conf)]:FILE:_files' \
'-p+[Write the process id to FILE]:FILE:_files' \
'--pidfile=[Write the process id to FILE]:FILE:_files' \
'-f+[Frequency (drift) file]:FILE:_files' \
'--driftfile=[Frequency (drift) file]:FILE:_files' \
'-l+[Log to FILE instead of syslog/stderr]:FILE:_files' \
'--logfile=[Log to FILE instead of syslog/stderr]:FILE:_files' \
'-u+[Drop root privileges to USER (keeping the right to set the clock)]:USER[:GROUP]:_default' \
'--user=[Drop root privileges to USER (keeping the right to set the clock)]:USER[:GROUP]:_default' \
'*-I+[Serve on this interface name or address only (repeatable)]:IFACE:_default' \
'*--interface=[Serve on this interface name or address only (repeatable)]:IFACE:_default' \
'--port=[Server port (testing)]:PORT:_default' \
'--threads=[Server worker threads per address (0\: one per CPU, at most 4)]:N:_default' \
'-n[Stay in the foreground; log to stderr unless -l]' \
'--nofork[Stay in the foreground; log to stderr unless -l]' \
'-g[Allow the first adjustment to exceed the panic threshold]' \
'--panicgate[Allow the first adjustment to exceed the panic threshold]' \
'-q[Set the clock once and exit]' \
'--quit[Set the clock once and exit]' \
'-x[Slew up to 600 s\: the step threshold becomes 600 s (ntp.org'\''s -x)]' \
'--slew[Slew up to 600 s\: the step threshold becomes 600 s (ntp.org'\''s -x)]' \
'--observe-only[Never adjust the system clock (as '\''disable ntp'\''); chosen automatically when adjusting is not permitted]' \
'*-d[More log output (repeatable)]' \
'*--debug[More log output (repeatable)]' \
'-4[Use IPv4 only]' \
'--ipv4[Use IPv4 only]' \
'(-4 --ipv4)-6[Use IPv6 only]' \
'(-4 --ipv4)--ipv6[Use IPv6 only]' \
'--single-thread[One thread only\: no server worker threads, blocking DNS]' \
'-h[Print help]' \
'--help[Print help]' \
'-V[Print version]' \
'--version[Print version]' \
&& ret=0
}

(( $+functions[_ntpd_commands] )) ||
_ntpd_commands() {
    local commands; commands=()
    _describe -t commands 'ntpd commands' commands "$@"
}

if [ "$funcstack[1]" = "_ntpd" ]; then
    _ntpd "$@"
else
    compdef _ntpd ntpd
fi
