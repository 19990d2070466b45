//! The hardware clock: /dev/rtc ioctls and /etc/adjtime.
