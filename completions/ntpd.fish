complete -c ntpd -s h -l help -d 'Print help'
