complete -c hwclock -s h -l help -d 'Print help'
