complete -c ntpdate -s a -d 'Authenticate with this key id from the keys file' -r
complete -c ntpdate -s e -d 'Authentication delay in seconds (accepted for compatibility, 0-1)' -r
complete -c ntpdate -s k -d 'Keys file [default: /etc/ntp.keys]' -r -F
complete -c ntpdate -s o -d 'NTP version to send, 1-4 [default: 4]' -r
complete -c ntpdate -s p -d 'Samples per server, 1-8 [default: 4]' -r
complete -c ntpdate -s t -d 'Seconds to wait for each reply, in 0.2 s steps, at least 1 [default: 2]' -r
complete -c ntpdate -l color -d 'Colour the output: auto (on a terminal, honouring NO_COLOR/CLICOLOR), always or never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c ntpdate -s 4 -d 'Use IPv4 addresses only'
complete -c ntpdate -s 6 -d 'Use IPv6 addresses only'
complete -c ntpdate -s b -d 'Always step the clock (settimeofday)'
complete -c ntpdate -s B -d 'Always slew the clock (adjtime), even past 0.5 s'
complete -c ntpdate -s d -d 'Debug: show every sample and the selection; never set the clock'
complete -c ntpdate -s q -d 'Query only: print, do not set the clock'
complete -c ntpdate -s s -d 'Log the result to syslog instead of standard output'
complete -c ntpdate -s u -d 'Use an unprivileged source port (ntpkit always does)'
complete -c ntpdate -s v -d 'Log the version'
complete -c ntpdate -l rank -d 'Rank the servers in a table (see docs/ntpdate.md); never sets the clock'
complete -c ntpdate -l json -d 'The ranking as JSON, for scripts; never sets the clock'
complete -c ntpdate -s h -l help -d 'Print help'
