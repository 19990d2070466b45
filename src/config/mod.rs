//! ntp.conf (with includefile), keys file and drift file. Errors carry file:line.
