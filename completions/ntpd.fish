complete -c ntpd -s c -l configfile -d 'Configuration file (default /etc/ntp.conf)' -r -F
complete -c ntpd -s p -l pidfile -d 'Write the process id to FILE' -r -F
complete -c ntpd -s f -l driftfile -d 'Frequency (drift) file' -r -F
complete -c ntpd -s l -l logfile -d 'Log to FILE instead of syslog/stderr' -r -F
complete -c ntpd -s k -l keyfile -d 'Symmetric keys file (as \'keys FILE\')' -r -F
complete -c ntpd -s s -l statsdir -d 'Directory for the statistics files (as \'statsdir DIR\')' -r -F
complete -c ntpd -s t -l trustedkey -d 'Add KEY to the trusted keys (as \'trustedkey KEY\'; repeatable)' -r
complete -c ntpd -s D -l set-debug-level -d 'Set the debug (log) level; 1 or more logs debug messages' -r
complete -c ntpd -s u -l user -d 'Drop root privileges to USER (keeping the right to set the clock); the pidfile, drift file and stats directory are prepared as root first' -r
complete -c ntpd -s i -l jaildir -d 'chroot to DIR after reading the configuration, before dropping privileges' -r -F
complete -c ntpd -s P -l priority -d 'Run at SCHED_FIFO priority PRIO' -r
complete -c ntpd -s I -l interface -d 'Serve on this interface name or address only (repeatable)' -r
complete -c ntpd -s U -l updateinterval -l uinterval -d 'Seconds between interface rescans (0: never, what ntpkit does)' -r
complete -c ntpd -s w -l wait-sync -d 'Fork (even with -n, -q or -d, as NTPsec) and let the parent wait up to SECS for the first clock synchronisation: exit 0 if synchronised, ETIMEDOUT otherwise' -r
complete -c ntpd -s v -s z -l var -d 'A system variable shown by \'ntpq -c rv NAME\' (as \'setvar\'; repeatable)' -r
complete -c ntpd -l dvar -d 'As --var, and listed by a plain \'ntpq -c rv\' (as \'setvar … default\')' -r
complete -c ntpd -s r -l propagationdelay -d 'Broadcast propagation delay (accepted; no broadcast client here)' -r
complete -c ntpd -l port -d 'Server port (testing)' -r
complete -c ntpd -l threads -d 'Server worker threads per address (0: one per CPU, at most 4)' -r
complete -c ntpd -s n -l nofork -d 'Stay in the foreground; log to stderr unless -l (-q and -d imply it)'
complete -c ntpd -s g -l panicgate -d 'Allow the first adjustment to exceed the panic threshold'
complete -c ntpd -s q -l quit -d 'Set the clock once and exit'
complete -c ntpd -s x -l slew -d 'Slew up to 600 s: the step threshold becomes 600 s (ntp.org\'s -x)'
complete -c ntpd -l observe-only -d 'Never adjust the system clock (as \'disable ntp\'); chosen automatically when adjusting is not permitted'
complete -c ntpd -s d -l debug-level -l debug -d 'More log output (repeatable)'
complete -c ntpd -s N -l nice -d 'Run at high priority (SCHED_FIFO, as ntpd)'
complete -c ntpd -s 4 -l ipv4 -d 'Use IPv4 only'
complete -c ntpd -s 6 -l ipv6 -d 'Use IPv6 only'
complete -c ntpd -s L -l novirtualips -d 'Do not listen on virtual interfaces (names with a colon)'
complete -c ntpd -s a -l authreq -d 'Require authentication for symmetric passive peers (the default)'
complete -c ntpd -s A -l authnoreq -d 'Do not require authentication (accepted; ntpkit always requires it)'
complete -c ntpd -s b -l bcastsync -d 'Sync to broadcast servers (accepted; no broadcast client here)'
complete -c ntpd -s G -l force-step-once -d 'Step the first offset correction, even one below the step threshold (it may step backwards)'
complete -c ntpd -s m -l mdns -d 'Register with mDNS (accepted; not implemented)'
complete -c ntpd -s M -l modifymmtimer -d 'Windows multimedia timer (accepted; Windows only)'
complete -c ntpd -s V -l version -d 'Print version'
complete -c ntpd -l single-thread -d 'One thread only: no server worker threads, blocking DNS'
complete -c ntpd -s h -l help -d 'Print help'
