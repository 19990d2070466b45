complete -c exporter -l listen -d 'where to serve /metrics' -r
complete -c exporter -l allow -d 'also let clients in ADDR[/LEN] scrape (loopback always may)' -r
complete -c exporter -s a -l keyid -d 'sign every mode 6 request with this key (restrict noquery lifted for it)' -r
complete -c exporter -s k -l keyfile -d 'the ntp.keys(5) file holding KEYID' -r -F
complete -c exporter -l timeout -d 'how long to wait for each mode 6 answer (10ms to 60s; a plain number is milliseconds)' -r
complete -c exporter -s h -l help -d 'Print help (see more with \'--help\')'
