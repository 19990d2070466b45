complete -c ntpstat -s h -l help -d 'Print help'
