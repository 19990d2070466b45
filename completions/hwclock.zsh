#compdef hwclock

autoload -U is-at-least

_hwclock() {
    typeset -A opt_args
    typeset -a _arguments_options
    local ret=1

    if is-at-least 5.2; then
        _arguments_options=(-s -S -C)
    else
        _arguments_options=(-s -C)
    fi

    local context curcontext="$curcontext" state line
    _arguments "${_arguments_options[@]}" : \
'-f+[use an alternate file to /dev/rtc0]:file:_files' \
'--rtc=[use an alternate file to /dev/rtc0]:file:_files' \
'--date=[date/time input for --set and --predict]:time:_default' \
'--delay=[delay used when set new RTC time]:sec:_default' \
'--adjfile=[use an alternate file to /etc/adjtime]:file:_files' \
'-r[display the RTC time (the default)]' \
'--show[display the RTC time (the default)]' \
'--get[display drift corrected RTC time]' \
'--set[set the RTC according to --date]' \
'-s[set the system time from the RTC]' \
'--hctosys[set the system time from the RTC]' \
'-w[set the RTC from the system time]' \
'--systohc[set the RTC from the system time]' \
'--systz[send timescale configurations to the kernel]' \
'-a[adjust the RTC to account for systematic drift]' \
'--adjust[adjust the RTC to account for systematic drift]' \
'--predict[predict the drifted RTC time according to --date]' \
'-u[the RTC timescale is UTC]' \
'--utc[the RTC timescale is UTC]' \
'-l[the RTC timescale is Local]' \
'--localtime[the RTC timescale is Local]' \
'--update-drift[update the RTC drift factor]' \
'--noadjfile[do not use /etc/adjtime]' \
'--test[dry run; implies --verbose]' \
'-v[display more details]' \
'--verbose[display more details]' \
'-D[deprecated\: use --verbose]' \
'--debug[deprecated\: use --verbose]' \
'--directisa[accepted for compatibility; the RTC is always used through /dev/rtc]' \
'-V[display version]' \
'--version[display version]' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
'*::extra:_default' \
&& ret=0
}

(( $+functions[_hwclock_commands] )) ||
_hwclock_commands() {
    local commands; commands=()
    _describe -t commands 'hwclock commands' commands "$@"
}

if [ "$funcstack[1]" = "_hwclock" ]; then
    _hwclock "$@"
else
    compdef _hwclock hwclock
fi
