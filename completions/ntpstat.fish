complete -c ntpstat -s m -d 'exit 1 when the time error bound exceeds MAXERROR milliseconds' -r
complete -c ntpstat -s 4 -d 'query 127.0.0.1 (the default)'
complete -c ntpstat -s 6 -d 'query ::1'
complete -c ntpstat -s h -l help -d 'print the usage line and exit'
