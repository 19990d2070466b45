complete -c ntpd -s c -l configfile -d 'Configuration file (default /etc/ntp.conf)' -r -F
complete -c ntpd -s p -l pidfile -d 'Write the process id to FILE' -r -F
complete -c ntpd -s f -l driftfile -d 'Frequency (drift) file' -r -F
complete -c ntpd -s l -l logfile -d 'Log to FILE instead of syslog/stderr' -r -F
complete -c ntpd -s u -l user -d 'Drop root privileges to USER (keeping the right to set the clock)' -r
complete -c ntpd -s I -l interface -d 'Serve on this interface name or address only (repeatable)' -r
complete -c ntpd -l port -d 'Server port (testing)' -r
complete -c ntpd -l threads -d 'Server worker threads per address (0: one per CPU, at most 4)' -r
complete -c ntpd -s n -l nofork -d 'Stay in the foreground; log to stderr unless -l'
complete -c ntpd -s g -l panicgate -d 'Allow the first adjustment to exceed the panic threshold'
complete -c ntpd -s q -l quit -d 'Set the clock once and exit'
complete -c ntpd -s x -l slew -d 'Slew up to 600 s: the step threshold becomes 600 s (ntp.org\'s -x)'
complete -c ntpd -l observe-only -d 'Never adjust the system clock (as \'disable ntp\'); chosen automatically when adjusting is not permitted'
complete -c ntpd -s d -l debug -d 'More log output (repeatable)'
complete -c ntpd -s 4 -l ipv4 -d 'Use IPv4 only'
complete -c ntpd -s 6 -l ipv6 -d 'Use IPv6 only'
complete -c ntpd -l single-thread -d 'One thread only: no server worker threads, blocking DNS'
complete -c ntpd -s h -l help -d 'Print help'
complete -c ntpd -s V -l version -d 'Print version'
