complete -c ntpq -s c -l command -d 'Run a command and exit (repeatable)' -r
complete -c ntpq -s a -l authentication -d 'Authenticate requests with this key (needed for writevar)' -r
complete -c ntpq -s k -l keyfile -d 'Keys file to find the -a key in [default: /etc/ntp.keys]' -r -F
complete -c ntpq -l color -d 'Colour the output: auto (on a terminal, honouring NO_COLOR/CLICOLOR), always or never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c ntpq -l watch -d 'Repeat the commands every DURATION (2s when not given; e.g. 500ms, 1m; a plain number is seconds), redrawing in place' -r
complete -c ntpq -l protocol -d 'Speak mode 6 (ntpd, NTPsec), chronyd\'s cmdmon, or whichever answers' -r -f -a "auto\t''
mode6\t''
chronyd\t''"
complete -c ntpq -l socket -d 'Ask chronyd through its Unix command socket (e.g. /run/chrony/chronyd.sock)' -r -F
complete -c ntpq -s 4 -l ipv4 -d 'Force IPv4 name resolution'
complete -c ntpq -s 6 -l ipv6 -d 'Force IPv6 name resolution'
complete -c ntpq -s d -l debug-level -d 'Trace requests and replies on stderr'
complete -c ntpq -s i -l interactive -d 'Force interactive mode (prompt) even with commands'
complete -c ntpq -s n -l numeric -d 'Show host addresses numerically'
complete -c ntpq -s p -l peers -d 'Print a list of the peers (same as -c peers)'
complete -c ntpq -s w -l wide -d 'Show long remote names in full, on a line of their own'
complete -c ntpq -l old-rv -d 'Print the status line of readvar also when variables are named'
complete -c ntpq -l json -d 'Print every command\'s result as one JSON object per line'
complete -c ntpq -s h -l help -d 'Print help (see more with \'--help\')'
