#!/bin/busybox sh
# /init of the qemu hwclock test's initramfs. Runs each check as a "step" whose output the
# host test parses from the serial console (step() in guest_common.sh), then powers the
# guest off. The guest has no /etc/localtime, so local time is UTC.
. /guest_common.sh

O="/bin/ntpkit hwclock"
U=/usr/sbin/hwclock

echo "@@INFO driver $(cat /sys/class/rtc/rtc0/name)"

# Reading: the RTC holds the -rtc base time; the kernel copied it to the system clock at boot.
step ours_show $O --verbose -r
step ul_show $U --verbose -r

# -w: ours, then util-linux's, each followed by reads of both.
rm -f /etc/adjtime
step ours_systohc $O -w --verbose
step ours_systohc_adjtime cat /etc/adjtime
step ours_show_after_ours_w $O --verbose -r
step ul_show_after_ours_w $U --verbose -r
rm -f /etc/adjtime
step ul_systohc $U -w --verbose
step ul_systohc_adjtime cat /etc/adjtime
step ours_show_after_ul_w $O --verbose -r
step ul_show_after_ul_w $U --verbose -r

# --set --date
rm -f /etc/adjtime
step ours_set $O --set --date="2032-02-29 12:34:56"
step ours_set_adjtime cat /etc/adjtime
step ours_show_after_set $O --verbose -r
step ul_show_after_set $U --verbose -r

# -s: move the system clock away, then set it from the RTC.
step date_away date -s "2020-01-01 00:00:00"
step ours_hctosys $O -s
step ours_show_after_s $O --verbose -r

# Without CAP_SYS_TIME: both must refuse the same way.
step ours_s_nocap $NOCAP $O -s
step ul_s_nocap $NOCAP $U -s
step ours_w_nocap $NOCAP $O -w
step ul_w_nocap $NOCAP $U -w

# --update-drift: the RTC runs 20 s ahead since a calibration 5 h ago. First both programs
# in --test mode on the very same RTC state (they print the new adjtime without writing
# anything), then ours for real.
now=$(date +%s)
$O --noadjfile -u --set --date=@$((now + 20))
printf '0.000000 %d 0.000000\n%d\nUTC\n' $((now - 18000)) $((now - 18000)) >/tmp/drift.adj
step ours_update_drift_test $O -w --update-drift --test --adjfile=/tmp/drift.adj
step ul_update_drift_test $U -w --update-drift --test --adjfile=/tmp/drift.adj
step ours_update_drift $O -w --update-drift --adjfile=/tmp/drift.adj
step ours_update_drift_adjtime cat /tmp/drift.adj

# Drift correction: 100 s/day, last adjusted and calibrated a day ago; RTC = system time.
drift_file() {
    now=$(date +%s)
    printf '100.000000 %d 0.000000\n%d\nUTC\n' $((now - 86400)) $((now - 86400)) >$1
}
$O --noadjfile -u -w
drift_file /tmp/get.adj
step ours_get $O --verbose --get --adjfile=/tmp/get.adj
step ul_get $U --verbose --get --adjfile=/tmp/get.adj
step ours_adjust_test $O --adjust --test --adjfile=/tmp/get.adj
step ul_adjust_test $U --adjust --test --adjfile=/tmp/get.adj
for who in ours ul; do
    $O --noadjfile -u -w
    drift_file /tmp/$who-adjust.adj
    if [ $who = ours ]; then prog="$O"; else prog=$U; fi
    step ${who}_adjust $prog --adjust --adjfile=/tmp/$who-adjust.adj
    step ${who}_adjust_adjtime cat /tmp/$who-adjust.adj
    step ${who}_show_after_adjust $O --verbose -r --noadjfile -u
done

# --systz: only the kernel's time zone (UTC here), no RTC access.
step ours_systz $O --systz --verbose
step ul_systz $U --systz --verbose

# Local-time RTC in a zone 2 h east of UTC (a POSIX TZ string: no zoneinfo needed).
for who in ours ul; do
    if [ $who = ours ]; then prog="$O"; else prog=$U; fi
    rm -f /tmp/$who-local.adj
    step ${who}_localtime_w env TZ=ABC-2 $prog -w --localtime --adjfile=/tmp/$who-local.adj
    step ${who}_localtime_adjtime cat /tmp/$who-local.adj
    step ${who}_localtime_show_ours env TZ=ABC-2 $O --verbose -r --adjfile=/tmp/$who-local.adj
    step ${who}_localtime_show_ul env TZ=ABC-2 $U --verbose -r --adjfile=/tmp/$who-local.adj
done

echo "@@DONE"
poweroff -f
echo o >/proc/sysrq-trigger
