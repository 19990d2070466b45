#compdef viz

autoload -U is-at-least

_viz() {
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
'-o+[where to write the HTML page (- for standard output)]:FILE:_files' \
'--output=[where to write the HTML page (- for standard output)]:FILE:_files' \
'--start=[leave out records before TIME (UTC, e.g. 2026-11-25T06\:00\:00Z or "2026-11-25 06\:00", or Unix seconds)]:TIME:_default' \
'--end=[leave out records after TIME (as --start)]:TIME:_default' \
'--period=[only this much (e.g. 1d, 12h, 90min)\: before --end, after --start, or up to the newest record]:DURATION:_default' \
'--sim=[an ntpsim run'\''s loopstats (ntpsim --loopstats FILE) to draw over the real run]:FILE:_files' \
'--title=[the page'\''s title \[default\: NTP statistics\]]:TEXT:_default' \
'-q[do not report skipped lines on standard error]' \
'--quiet[do not report skipped lines on standard error]' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
'*::paths -- loopstats/peerstats files, or directories holding them:_files' \
&& ret=0
}

(( $+functions[_viz_commands] )) ||
_viz_commands() {
    local commands; commands=()
    _describe -t commands 'viz commands' commands "$@"
}

if [ "$funcstack[1]" = "_viz" ]; then
    _viz "$@"
else
    compdef _viz viz
fi
