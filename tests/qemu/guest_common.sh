# Sourced by each qemu guest's /init (tests/qemu/*_init.sh; guest.rs puts it in the
# initramfs next to /init): the mounts every guest needs, NOCAP, and step(), which prints a
# command's results in the protocol the host test parses from the serial console:
#   @@BEGIN name / @@OUT line / @@ERR line / @@END name rc=N now=EPOCH
/bin/busybox mkdir -p /proc /sys /dev /tmp /etc
/bin/busybox --install -s /bin
mount -t devtmpfs dev /dev
mount -t proc proc /proc
mount -t sysfs sys /sys

NOCAP="/usr/bin/setpriv --inh-caps=-sys_time --bounding-set=-sys_time"

step() {
    name=$1
    shift
    echo "@@BEGIN $name"
    "$@" >/tmp/out 2>/tmp/err
    rc=$?
    sed 's/^/@@OUT /' /tmp/out
    sed 's/^/@@ERR /' /tmp/err
    echo "@@END $name rc=$rc now=$(date +%s)"
}
