#!/bin/busybox sh
# /init of the kernel-view test's initramfs (tests/root_qemu_kernel_view.rs). The guest has
# its own clock, so here — and only here — our ntpd disciplines a kernel clock for real.
# busybox's adjtimex (no options: read only) prints what node_exporter's timex collector reads.
. /guest_common.sh
ifconfig lo 127.0.0.1 up

N=/bin/ntpkit
printf 'server 127.127.1.0\nfudge 127.127.1.0 stratum 10\nrestrict 127.0.0.1\n' >/etc/ntp.conf

# wait (up to 60 s) until the daemon on 127.0.0.1 serves stratum 11 (synchronised to LOCAL)
wait_sync() {
    i=0
    while [ $i -lt 60 ]; do
        $N ntpq -c "rv 0 stratum" 127.0.0.1 2>/dev/null | grep -q "stratum=11" && return 0
        sleep 1
        i=$((i + 1))
    done
    return 1
}

step fresh adjtimex

# 1. observe-only, as root with CAP_SYS_TIME: synchronised, yet the kernel hears nothing
$N ntpd -n --observe-only -I 127.0.0.1 -c /etc/ntp.conf >/tmp/observe.log 2>&1 &
pid=$!
step observe_sync wait_sync
step observe_adjtimex adjtimex
kill $pid
sleep 1

# 2. disciplining: synchronised, and the kernel is told (maxerror, esterror, STA_UNSYNC clear)
$N ntpd -n -I 127.0.0.1 -c /etc/ntp.conf >/tmp/discipline.log 2>&1 &
pid=$!
step discipline_sync wait_sync
sleep 2
step discipline_adjtimex adjtimex
step discipline_rv $N ntpq -c "rv 0 rootdelay,rootdisp,sys_jitter" 127.0.0.1
kill $pid
sleep 1
step logs cat /tmp/observe.log /tmp/discipline.log

echo "@@DONE"
poweroff -f
echo o >/proc/sysrq-trigger
