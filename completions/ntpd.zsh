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
'-k+[Symmetric keys file (as '\''keys FILE'\'')]:FILE:_files' \
'--keyfile=[Symmetric keys file (as '\''keys FILE'\'')]:FILE:_files' \
'-s+[Directory for the statistics files (as '\''statsdir DIR'\'')]:DIR:_files' \
'--statsdir=[Directory for the statistics files (as '\''statsdir DIR'\'')]:DIR:_files' \
'*-t+[Add KEY to the trusted keys (as '\''trustedkey KEY'\''; repeatable)]:KEY:_default' \
'*--trustedkey=[Add KEY to the trusted keys (as '\''trustedkey KEY'\''; repeatable)]:KEY:_default' \
'-D+[Set the debug (log) level; 1 or more logs debug messages]:LEVEL:_default' \
'--set-debug-level=[Set the debug (log) level; 1 or more logs debug messages]:LEVEL:_default' \
'-u+[Drop root privileges to USER (keeping the right to set the clock); the pidfile, drift file and stats directory are prepared as root first]:USER[:GROUP]:_default' \
'--user=[Drop root privileges to USER (keeping the right to set the clock); the pidfile, drift file and stats directory are prepared as root first]:USER[:GROUP]:_default' \
'-i+[chroot to DIR after reading the configuration, before dropping privileges]:DIR:_files' \
'--jaildir=[chroot to DIR after reading the configuration, before dropping privileges]:DIR:_files' \
'-P+[Run at SCHED_FIFO priority PRIO]:PRIO:_default' \
'--priority=[Run at SCHED_FIFO priority PRIO]:PRIO:_default' \
'*-I+[Serve on this interface name or address only (repeatable)]:IFACE:_default' \
'*--interface=[Serve on this interface name or address only (repeatable)]:IFACE:_default' \
'-U+[Seconds between interface rescans (0\: never, what ntpkit does)]:SECS:_default' \
'--updateinterval=[Seconds between interface rescans (0\: never, what ntpkit does)]:SECS:_default' \
'--uinterval=[Seconds between interface rescans (0\: never, what ntpkit does)]:SECS:_default' \
'-w+[Fork (even with -n, -q or -d, as NTPsec) and let the parent wait up to SECS for the first clock synchronisation\: exit 0 if synchronised, ETIMEDOUT otherwise]:SECS:_default' \
'--wait-sync=[Fork (even with -n, -q or -d, as NTPsec) and let the parent wait up to SECS for the first clock synchronisation\: exit 0 if synchronised, ETIMEDOUT otherwise]:SECS:_default' \
'*-v+[A system variable shown by '\''ntpq -c rv NAME'\'' (as '\''setvar'\''; repeatable)]:NAME=VALUE:_default' \
'*-z+[A system variable shown by '\''ntpq -c rv NAME'\'' (as '\''setvar'\''; repeatable)]:NAME=VALUE:_default' \
'*--var=[A system variable shown by '\''ntpq -c rv NAME'\'' (as '\''setvar'\''; repeatable)]:NAME=VALUE:_default' \
'*--dvar=[As --var, and listed by a plain '\''ntpq -c rv'\'' (as '\''setvar … default'\'')]:NAME=VALUE:_default' \
'-r+[Broadcast propagation delay (accepted; no broadcast client here)]:DELAY:_default' \
'--propagationdelay=[Broadcast propagation delay (accepted; no broadcast client here)]:DELAY:_default' \
'--port=[Server port (testing)]:PORT:_default' \
'--threads=[Server worker threads per address (0\: one per CPU, at most 4)]:N:_default' \
'-n[Stay in the foreground; log to stderr unless -l (-q and -d imply it)]' \
'--nofork[Stay in the foreground; log to stderr unless -l (-q and -d imply it)]' \
'-g[Allow the first adjustment to exceed the panic threshold]' \
'--panicgate[Allow the first adjustment to exceed the panic threshold]' \
'-q[Set the clock once and exit]' \
'--quit[Set the clock once and exit]' \
'-x[Slew up to 600 s\: the step threshold becomes 600 s (ntp.org'\''s -x)]' \
'--slew[Slew up to 600 s\: the step threshold becomes 600 s (ntp.org'\''s -x)]' \
'--observe-only[Never adjust the system clock (as '\''disable ntp'\''); chosen automatically when adjusting is not permitted]' \
'*-d[More log output (repeatable)]' \
'*--debug-level[More log output (repeatable)]' \
'*--debug[More log output (repeatable)]' \
'-N[Run at high priority (SCHED_FIFO, as ntpd)]' \
'--nice[Run at high priority (SCHED_FIFO, as ntpd)]' \
'-4[Use IPv4 only]' \
'--ipv4[Use IPv4 only]' \
'(-4 --ipv4)-6[Use IPv6 only]' \
'(-4 --ipv4)--ipv6[Use IPv6 only]' \
'-L[Do not listen on virtual interfaces (names with a colon)]' \
'--novirtualips[Do not listen on virtual interfaces (names with a colon)]' \
'-a[Require authentication for symmetric passive peers (the default)]' \
'--authreq[Require authentication for symmetric passive peers (the default)]' \
'(-a --authreq)-A[Do not require authentication (accepted; ntpkit always requires it)]' \
'(-a --authreq)--authnoreq[Do not require authentication (accepted; ntpkit always requires it)]' \
'-b[Sync to broadcast servers (accepted; no broadcast client here)]' \
'--bcastsync[Sync to broadcast servers (accepted; no broadcast client here)]' \
'-G[Step the first offset correction, even one below the step threshold (it may step backwards)]' \
'--force-step-once[Step the first offset correction, even one below the step threshold (it may step backwards)]' \
'-m[Register with mDNS (accepted; not implemented)]' \
'--mdns[Register with mDNS (accepted; not implemented)]' \
'-M[Windows multimedia timer (accepted; Windows only)]' \
'--modifymmtimer[Windows multimedia timer (accepted; Windows only)]' \
'-V[Print version]' \
'--version[Print version]' \
'--single-thread[One thread only\: no server worker threads, blocking DNS]' \
'-h[Print help]' \
'--help[Print help]' \
'*::servers -- Servers to use, as '\''server SERVER iburst'\'' lines (NTPsec, ntp.org):_default' \
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
