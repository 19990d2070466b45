complete -c ntpdate -s h -l help -d 'Print help'
