complete -c ntpq -s h -l help -d 'Print help'
