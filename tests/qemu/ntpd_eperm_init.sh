#!/bin/busybox sh
# /init of the qemu EPERM test's initramfs (tests/root_qemu_ntpd_eperm.rs). The guest has
# its own clock, so here — and only here — our ntpd may really set it. Output protocol: step()
# in guest_common.sh, then @@DONE.
. /guest_common.sh
ifconfig lo 127.0.0.1 up

N=/bin/ntpkit

printf 'server 127.127.1.0\nfudge 127.127.1.0 stratum 10\nrestrict 127.0.0.1\ndriftfile /tmp/ntp.drift\n' >/etc/server.conf
printf 'server 127.0.0.1 iburst\n' >/etc/client.conf

# 1. Without CAP_SYS_TIME and without --observe-only: ntpd finds out by trying, warns, observes only,
#    and keeps serving.
$NOCAP $N ntpd -n -I 127.0.0.1 -c /etc/server.conf >/tmp/nocap.log 2>&1 &
server=$!
sleep 12
step nocap_alive kill -0 $server
step nocap_serves $N ntpdate -q 127.0.0.1
step nocap_rv $N ntpq -c "rv 0 stratum,leap" 127.0.0.1
# -q without the capability: the same warning, no claim to have set the clock, exit 1
step nocap_q_before date +%s
step nocap_q timeout 60 $NOCAP $N ntpd -q -g -n --port 0 -c /etc/client.conf
step nocap_still_alive kill -0 $server
# -G as root against this server, which serves the guest's own clock: a correction of
# microseconds, far below the step threshold (a slew without -G), stepped all the same
step root_q_forced timeout 60 $N ntpd -q -G -n --port 0 -c /etc/client.conf
kill $server
sleep 1
step nocap_log cat /tmp/nocap.log

# 2. A server whose clock runs 2 h ahead (libfaketime; its receive timestamps come from the
#    kernel unfaked, so a client measures half of that: +1 h). As root, with CAP_SYS_TIME:
$NOCAP env LD_PRELOAD=/usr/lib/faketime/libfaketime.so.1 FAKETIME=+2h \
    $N ntpd -n --observe-only -I 127.0.0.1 -c /etc/server.conf >/tmp/fake.log 2>&1 &
sleep 8
step fake_serves $N ntpdate -q 127.0.0.1
#    without -g an offset past the 1000 s panic threshold is refused and nothing is set,
step root_q_nog_before date +%s
step root_q_nog timeout 60 $N ntpd -q -n --port 0 -c /etc/client.conf
#    with -g it is stepped.
step root_q_before date +%s
step root_q timeout 60 $N ntpd -q -g -n --port 0 -c /etc/client.conf
step root_q_after date +%s

echo "@@DONE"
poweroff -f
echo o >/proc/sysrq-trigger
