complete -c viz -s o -l output -d 'where to write the HTML page (- for standard output)' -r -F
complete -c viz -l start -d 'leave out records before TIME (UTC, e.g. 2026-11-25T06:00:00Z or "2026-11-25 06:00", or Unix seconds)' -r
complete -c viz -l end -d 'leave out records after TIME (as --start)' -r
complete -c viz -l period -d 'only this much (e.g. 1d, 12h, 90min): before --end, after --start, or up to the newest record' -r
complete -c viz -l sim -d 'an ntpsim run\'s loopstats (ntpsim --loopstats FILE) to draw over the real run' -r -F
complete -c viz -l title -d 'the page\'s title [default: NTP statistics]' -r
complete -c viz -s q -l quiet -d 'do not report skipped lines on standard error'
complete -c viz -s h -l help -d 'Print help (see more with \'--help\')'
