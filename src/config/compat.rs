//! What ntpkit does with each ntp.conf keyword of ntp.org 4.2.8 and NTPsec 1.2: works,
//! accepted with a warning ("accepted, not implemented"), or rejected.
//!
//! This one table drives the parser's warnings (a keyword marked [`Support::Warned`] is
//! reported once per load, with file:line) and generates docs/compat.md and the
//! `ntp.conf(5)` / `ntp.keys(5)` manuals ([`crate::config::manual`]). Every row carries an
//! example line; a unit test parses each one and checks that the parser does what the row
//! says, so the table cannot drift from the parser.

/// What ntpkit does with a keyword.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Support {
    /// Parsed and acted on.
    Works,
    /// Parsed, then reported once as "accepted, not implemented"; the rest of the line and
    /// the daemon carry on.
    Warned,
    /// A syntax error: the line is skipped with an error naming file:line:column (as NTPsec
    /// does for it).
    Rejected,
}

impl Support {
    pub fn word(self) -> &'static str {
        match self {
            Support::Works => "works",
            Support::Warned => "warned",
            Support::Rejected => "rejected",
        }
    }
}

/// Where a keyword appears.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Section {
    /// The first word of a line.
    Directive,
    /// An option of `server`, `pool` and `peer`.
    Association,
    /// An option of `fudge 127.127.t.u`.
    Fudge,
    /// A flag of `restrict`.
    Restrict,
    /// `enable FLAG` / `disable FLAG` (named here with its verb).
    System,
    /// A variable of `tinker`.
    Tinker,
    /// A variable of `tos`.
    Tos,
    /// A name of `statistics` and `filegen`.
    Statistics,
    /// An option of `filegen`.
    Filegen,
    /// An option of `discard`.
    Discard,
    /// A setting of `mru`.
    Mru,
    /// A key type in the keys file (`ntp.keys(5)`).
    KeyType,
}

impl Section {
    pub const ALL: &'static [Section] = &[
        Section::Directive,
        Section::Association,
        Section::Fudge,
        Section::Restrict,
        Section::System,
        Section::Tinker,
        Section::Tos,
        Section::Statistics,
        Section::Filegen,
        Section::Discard,
        Section::Mru,
        Section::KeyType,
    ];

    /// The heading in docs/compat.md and the manuals.
    pub fn title(self) -> &'static str {
        match self {
            Section::Directive => "Directives",
            Section::Association => "server, pool and peer options",
            Section::Fudge => "fudge options",
            Section::Restrict => "restrict flags",
            Section::System => "enable and disable",
            Section::Tinker => "tinker variables",
            Section::Tos => "tos variables",
            Section::Statistics => "statistics and filegen names",
            Section::Filegen => "filegen options",
            Section::Discard => "discard options",
            Section::Mru => "mru settings",
            Section::KeyType => "Key types (keys file)",
        }
    }
}

/// One keyword.
#[derive(Clone, Copy, Debug)]
pub struct Entry {
    pub section: Section,
    pub name: &'static str,
    pub support: Support,
    /// A config that uses the keyword (checked by the unit test below).
    pub example: &'static str,
    /// What it does in ntpkit, or why it is not implemented.
    pub note: &'static str,
}

const fn e(
    section: Section,
    name: &'static str,
    support: Support,
    example: &'static str,
    note: &'static str,
) -> Entry {
    Entry {
        section,
        name,
        support,
        example,
        note,
    }
}

use Section as S;
use Support::{Warned as W, Works as K};

/// The table. Order within a section is the order of the documentation.
pub const TABLE: &[Entry] = &[
    // ---- directives ----
    e(S::Directive, "server", K, "server 192.0.2.1 iburst", "client of one server (mode 3); a name is resolved in the background and retried"),
    e(S::Directive, "pool", K, "pool pool.example.invalid iburst", "client of several servers behind one name, up to `tos maxclock`; shown as a `.POOL.` row until resolved"),
    e(S::Directive, "peer", K, "peer 192.0.2.1 key 1", "symmetric active association (mode 1)"),
    e(S::Directive, "fudge", K, "server 127.127.1.0\nfudge 127.127.1.0 stratum 10", "settings of the LOCAL clock (127.127.1.u)"),
    e(S::Directive, "restrict", K, "restrict default kod limited nomodify noquery", "access control, ntpd's matching rules"),
    e(S::Directive, "discard", K, "discard average 4 minimum 2", "rate limit for `limited`"),
    e(S::Directive, "driftfile", K, "driftfile /var/lib/ntp/drift", "frequency saved hourly and at exit, read at start"),
    e(S::Directive, "keys", K, "keys /etc/ntp.keys", "symmetric keys file (ntp.keys(5)); a missing file is logged and the daemon runs"),
    e(S::Directive, "trustedkey", K, "trustedkey 1 2 (10 ... 12)", "keys that authenticate servers and peers"),
    e(S::Directive, "controlkey", K, "controlkey 1", "key for authenticated mode 6 requests (ntpq)"),
    e(S::Directive, "requestkey", W, "requestkey 1", "mode 7 (ntpdc) is not served"),
    e(S::Directive, "includefile", K, "includefile /etc/ntp.d/local.conf", "reads another file (relative to the including file; a directory reads its *.conf files); a missing file is logged and the daemon runs"),
    e(S::Directive, "enable", K, "enable monitor", "see the enable/disable table"),
    e(S::Directive, "disable", K, "disable monitor", "see the enable/disable table"),
    e(S::Directive, "statistics", K, "statistics loopstats", "see the statistics table"),
    e(S::Directive, "statsdir", K, "statsdir /var/log/ntpstats/", "directory of the statistics files"),
    e(S::Directive, "filegen", K, "filegen peerstats file peers type day enable", "naming and rotation of a statistics file"),
    e(S::Directive, "logfile", K, "logfile /var/log/ntp.log", "log to a file instead of syslog"),
    e(S::Directive, "logconfig", W, "logconfig =syncall +clockall", "all messages are logged; the classes are not filtered"),
    e(S::Directive, "pidfile", K, "pidfile /run/ntpd.pid", "pid file"),
    e(S::Directive, "leapfile", K, "leapfile /usr/share/zoneinfo/leap-seconds.list", "IERS leap-seconds.list, checked for expiry"),
    e(S::Directive, "tinker", K, "tinker panic 0", "see the tinker table"),
    e(S::Directive, "tos", K, "tos minsane 2", "see the tos table"),
    e(S::Directive, "interface", K, "interface listen eth0", "which addresses are served (listen, ignore, drop)"),
    e(S::Directive, "nic", K, "nic ignore ipv6", "same as interface"),
    e(S::Directive, "mru", K, "mru maxmem 1024", "size of the MRU (monitor) list"),
    e(S::Directive, "setvar", K, "setvar owner = \"The Boss\" default", "a system variable shown by `ntpq -c rv` (with `default`) or read by name"),
    e(S::Directive, "hwtimestamp", K, "hwtimestamp *", "chronyd's directive (options accepted): reports whether the interface offers hardware timestamps; ntpkit uses the kernel's software RX/TX timestamps either way (no PHC-to-system conversion)"),
    e(S::Directive, "rtcsync", K, "rtcsync", "ntpkit extension: keep the RTC in step (kernel 11-minute mode) while synchronised"),
    e(S::Directive, "metrics", K, "metrics 127.0.0.1:9975", "ntpkit extension: serve OpenMetrics at http://ADDR:PORT/metrics (docs/metrics.md); loopback clients only unless `allow PREFIX…` follows"),
    e(S::Directive, "nonvolatile", W, "nonvolatile 1e-7", "the drift file is written hourly whatever the change"),
    e(S::Directive, "broadcast", W, "broadcast 192.0.2.255", "broadcast/multicast server mode is not implemented; line ignored"),
    e(S::Directive, "broadcastclient", W, "broadcastclient", "broadcast client mode is not implemented; line ignored"),
    e(S::Directive, "multicastclient", W, "multicastclient 224.0.1.1", "multicast client mode is not implemented; line ignored"),
    e(S::Directive, "manycastclient", W, "manycastclient 239.255.254.254", "manycast is not implemented; line ignored"),
    e(S::Directive, "manycastserver", W, "manycastserver 239.255.254.254", "manycast is not implemented; line ignored"),
    e(S::Directive, "broadcastdelay", W, "broadcastdelay 0.008", "broadcast is not implemented; line ignored"),
    e(S::Directive, "crypto", W, "crypto pw secret", "Autokey (ntp.org) is not implemented; line ignored"),
    e(S::Directive, "keysdir", W, "keysdir /etc/ntp", "Autokey is not implemented; line ignored"),
    e(S::Directive, "revoke", W, "revoke 17", "Autokey is not implemented; line ignored"),
    e(S::Directive, "automax", W, "automax 12", "Autokey is not implemented; line ignored"),
    e(S::Directive, "ident", W, "ident group", "Autokey is not implemented; line ignored"),
    e(S::Directive, "nts", K, "nts enable cert /etc/ntpsec/cert.pem key /etc/ntpsec/key.pem cookie /var/lib/ntpsec/nts-keys", "NTS-KE server (RFC 8915, TLS 1.3 only, port 4460) as NTPsec: `enable`/`disable`, `cert`, `key`, `cookie` (cookie keys, rotated daily, kept a week), `ca` (clients' default CA), `mintls`/`maxtls` (TLS1.3; lower is refused naming file:line), `tlsciphersuites`, `aead`; `tlsciphers`/`tlsecdhcurves` are warned and ignored. ntpkit adds `port`, `ntpserver`, `ntpport`, `rotate`, and chrony's `nocerttimecheck [0|1]` (NTS clients skip certificate validity times until the first synchronisation; default on only without RTC) (docs/nts.md)"),
    e(S::Directive, "refclock", W, "refclock shm unit 0", "NTPsec's refclock syntax is not implemented (LOCAL via `server 127.127.1.0` works); line ignored"),
    e(S::Directive, "device", W, "device 127.127.20.0 /dev/gps0", "reference clock devices are not implemented; line ignored"),
    e(S::Directive, "phone", W, "phone ATDT5551234", "modem reference clocks are not implemented; line ignored"),
    e(S::Directive, "calldelay", W, "calldelay 30", "modem reference clocks are not implemented; line ignored"),
    e(S::Directive, "trap", W, "trap 192.0.2.9", "mode 6 traps are not implemented; line ignored"),
    e(S::Directive, "ttl", W, "ttl 1 2 3", "manycast/broadcast TTLs: not implemented; line ignored"),
    e(S::Directive, "dscp", W, "dscp 46", "packets keep the default DSCP; line ignored"),
    e(S::Directive, "pollskewlist", W, "pollskewlist default 1|1", "line ignored"),
    e(S::Directive, "leapsmearinterval", W, "leapsmearinterval 86400", "leap smearing is not implemented; line ignored"),
    e(S::Directive, "saveconfigdir", W, "saveconfigdir /var/lib/ntp", "saveconfig is not implemented; line ignored"),
    e(S::Directive, "reset", W, "reset allpeers", "run-time command; line ignored"),
    e(S::Directive, "unconfig", W, "unconfig 1", "run-time command; line ignored"),
    e(S::Directive, "unpeer", W, "unpeer 192.0.2.1", "run-time command; line ignored"),
    e(S::Directive, "unrestrict", W, "unrestrict 192.0.2.1", "run-time command; line ignored"),
    e(S::Directive, "delrestrict", W, "delrestrict 192.0.2.1", "run-time command; line ignored"),
    // ---- server / pool / peer options ----
    e(S::Association, "iburst", K, "server 192.0.2.1 iburst", "a burst of 8 packets at start"),
    e(S::Association, "burst", K, "server 192.0.2.1 burst", "a burst of 8 packets each poll"),
    e(S::Association, "prefer", K, "server 192.0.2.1 prefer", "preferred by selection"),
    e(S::Association, "noselect", K, "server 192.0.2.1 noselect", "polled and shown, never selected"),
    e(S::Association, "key", K, "server 192.0.2.1 key 1", "authenticate with this symmetric key"),
    e(S::Association, "version", K, "server 192.0.2.1 version 3", "NTP version of our requests"),
    e(S::Association, "minpoll", K, "server 192.0.2.1 minpoll 4", "poll interval floor, log2 s (0..17)"),
    e(S::Association, "maxpoll", K, "server 192.0.2.1 maxpoll 8", "poll interval ceiling, log2 s (0..17)"),
    e(S::Association, "true", W, "server 192.0.2.1 true", "the source still goes through the intersection and clustering"),
    e(S::Association, "preempt", W, "server 192.0.2.1 preempt", "only pool members are preemptible in ntpkit"),
    e(S::Association, "xleave", K, "server 192.0.2.1 xleave", "interleaved client mode (RFC 9769, chronyd's wire format): the server's kernel transmit timestamps one exchange later, basic mode for an exchange that loses a packet; on a `peer` line symmetric mode stays basic. The server side needs no option"),
    e(S::Association, "mode", W, "server 127.127.1.0 mode 1", "reference clock driver modes are not implemented"),
    e(S::Association, "ttl", W, "server 192.0.2.1 ttl 2", "manycast TTL: not implemented"),
    e(S::Association, "autokey", W, "server 192.0.2.1 autokey", "Autokey is not implemented; the association runs unauthenticated"),
    e(S::Association, "ident", W, "server 192.0.2.1 ident group", "Autokey is not implemented"),
    e(S::Association, "nts", K, "server 192.0.2.1 nts", "Network Time Security (RFC 8915): key exchange over TLS 1.3, every reply authenticated, unauthenticated ones dropped; never falls back to plain NTP (docs/nts.md)"),
    e(S::Association, "ca", K, "server 192.0.2.1 nts ca /etc/ntpsec/ca.pem", "NTS: trust the CA certificates in this PEM file instead of the system store"),
    e(S::Association, "noval", K, "server 192.0.2.1 nts noval", "NTS: do not verify the server's certificate (warned at start-up)"),
    e(S::Association, "aead", K, "server 192.0.2.1 nts aead AES_SIV_CMAC_256", "NTS: offer only this AEAD (default AES_SIV_CMAC_512, then _256)"),
    e(S::Association, "port", K, "server 192.0.2.1 nts port 4460", "NTS: the key-exchange port (default 4460)"),
    // ---- fudge ----
    e(S::Fudge, "stratum", K, "server 127.127.1.0\nfudge 127.127.1.0 stratum 10", "the LOCAL clock's stratum (default 5)"),
    e(S::Fudge, "refid", K, "server 127.127.1.0\nfudge 127.127.1.0 refid GPS", "the LOCAL clock's refid (default LOCL)"),
    e(S::Fudge, "time1", W, "server 127.127.1.0\nfudge 127.127.1.0 time1 0.5", "driver calibration is not implemented for LOCAL"),
    e(S::Fudge, "time2", W, "server 127.127.1.0\nfudge 127.127.1.0 time2 0.5", "driver calibration is not implemented for LOCAL"),
    e(S::Fudge, "flag1", W, "server 127.127.1.0\nfudge 127.127.1.0 flag1 1", "driver flags are not implemented for LOCAL"),
    e(S::Fudge, "flag2", W, "server 127.127.1.0\nfudge 127.127.1.0 flag2 1", "driver flags are not implemented for LOCAL"),
    e(S::Fudge, "flag3", W, "server 127.127.1.0\nfudge 127.127.1.0 flag3 1", "driver flags are not implemented for LOCAL"),
    e(S::Fudge, "flag4", W, "server 127.127.1.0\nfudge 127.127.1.0 flag4 1", "driver flags are not implemented for LOCAL"),
    // ---- restrict ----
    e(S::Restrict, "default", K, "restrict default noquery", "the entry for every address no other entry matches"),
    e(S::Restrict, "source", K, "restrict source nomodify", "entries made for each association's address"),
    e(S::Restrict, "mask", K, "restrict 192.0.2.0 mask 255.255.255.0", "address mask (also `addr/prefix`)"),
    e(S::Restrict, "ntpport", K, "restrict 192.0.2.1 ntpport", "matches only source port 123"),
    e(S::Restrict, "ignore", K, "restrict 192.0.2.1 ignore", "drop every packet"),
    e(S::Restrict, "noserve", K, "restrict 192.0.2.1 noserve", "no time service"),
    e(S::Restrict, "notrust", K, "restrict 192.0.2.1 notrust", "only authenticated packets"),
    e(S::Restrict, "noquery", K, "restrict 192.0.2.1 noquery", "no mode 6 (ntpq) or mode 7"),
    e(S::Restrict, "nomodify", K, "restrict 192.0.2.1 nomodify", "ntpkit accepts no run-time changes from anyone"),
    e(S::Restrict, "notrap", K, "restrict 192.0.2.1 notrap", "ntpkit sets no traps for anyone"),
    e(S::Restrict, "lowpriotrap", K, "restrict 192.0.2.1 lowpriotrap", "ntpkit sets no traps for anyone"),
    e(S::Restrict, "nopeer", K, "restrict 192.0.2.1 nopeer", "ntpkit never mobilises unauthenticated peers"),
    e(S::Restrict, "noepeer", K, "restrict 192.0.2.1 noepeer", "no ephemeral peers, even authenticated"),
    e(S::Restrict, "limited", K, "restrict 192.0.2.1 limited", "rate limit per `discard`"),
    e(S::Restrict, "kod", K, "restrict 192.0.2.1 limited kod", "answer a rate violation with a RATE kiss"),
    e(S::Restrict, "nomrulist", K, "restrict 192.0.2.1 nomrulist", "no MRU list over mode 6"),
    e(S::Restrict, "serverresponse", K, "restrict 192.0.2.1 serverresponse fuzz", "fuzz the low bits of served timestamps"),
    e(S::Restrict, "version", W, "restrict 192.0.2.1 version", "packets of every version are served"),
    e(S::Restrict, "mssntp", W, "restrict 192.0.2.1 mssntp", "Microsoft signing is not implemented"),
    e(S::Restrict, "flake", W, "restrict 192.0.2.1 flake", "no packets are dropped on purpose"),
    // ---- enable / disable ----
    e(S::System, "enable auth", K, "enable auth", "authentication needed for symmetric peers (default)"),
    e(S::System, "disable auth", W, "disable auth", "unauthenticated symmetric peers are still not mobilised"),
    e(S::System, "enable bclient", W, "enable bclient", "broadcast client mode is not implemented"),
    e(S::System, "disable bclient", K, "disable bclient", "the default"),
    e(S::System, "enable calibrate", W, "enable calibrate", "refclock calibration is not implemented"),
    e(S::System, "disable calibrate", K, "disable calibrate", "the default"),
    e(S::System, "enable kernel", W, "enable kernel", "ntpkit disciplines with its own loop (docs/ntpd.md: kernel PLL)"),
    e(S::System, "disable kernel", K, "disable kernel", "ntpkit's own loop, always"),
    e(S::System, "enable mode7", W, "enable mode7", "mode 7 (ntpdc) is not served"),
    e(S::System, "disable mode7", K, "disable mode7", "the default: mode 7 is not served"),
    e(S::System, "enable monitor", K, "enable monitor", "the MRU list (default)"),
    e(S::System, "disable monitor", K, "disable monitor", "no MRU list unless `limited` needs it"),
    e(S::System, "enable ntp", K, "enable ntp", "discipline the clock (default)"),
    e(S::System, "disable ntp", K, "disable ntp", "observe only: poll and serve, never adjust the clock"),
    e(S::System, "enable stats", K, "enable stats", "write the enabled statistics files (default)"),
    e(S::System, "disable stats", K, "disable stats", "write no statistics files"),
    e(S::System, "enable pps", W, "enable pps", "PPS is not implemented"),
    e(S::System, "disable pps", K, "disable pps", "the default"),
    e(S::System, "enable peer_clear_digest_early", W, "enable peer_clear_digest_early", "ntp.org security knob; ntpkit's behaviour is fixed"),
    e(S::System, "enable unpeer_crypto_early", W, "enable unpeer_crypto_early", "Autokey is not implemented"),
    e(S::System, "enable unpeer_crypto_nak_early", W, "enable unpeer_crypto_nak_early", "Autokey is not implemented"),
    e(S::System, "enable unpeer_digest_early", W, "enable unpeer_digest_early", "ntp.org security knob; ntpkit's behaviour is fixed"),
    e(S::System, "disable peer_clear_digest_early", W, "disable peer_clear_digest_early", "ntp.org security knob; ntpkit's behaviour is fixed"),
    e(S::System, "disable unpeer_crypto_early", W, "disable unpeer_crypto_early", "Autokey is not implemented"),
    e(S::System, "disable unpeer_crypto_nak_early", W, "disable unpeer_crypto_nak_early", "Autokey is not implemented"),
    e(S::System, "disable unpeer_digest_early", W, "disable unpeer_digest_early", "ntp.org security knob; ntpkit's behaviour is fixed"),
    // ---- tinker ----
    e(S::Tinker, "step", K, "tinker step 0.5", "step threshold, s (0: never step)"),
    e(S::Tinker, "stepback", K, "tinker stepback 0", "step threshold for backward steps, s (0: never step back)"),
    e(S::Tinker, "stepfwd", K, "tinker stepfwd 1", "step threshold for forward steps, s (0: never step forward)"),
    e(S::Tinker, "stepout", K, "tinker stepout 600", "how long an offset past the threshold lasts before a step, s"),
    e(S::Tinker, "panic", K, "tinker panic 0", "panic threshold, s (0: never give up)"),
    e(S::Tinker, "freq", K, "tinker freq 12.5", "initial frequency, ppm (over the drift file)"),
    e(S::Tinker, "dispersion", W, "tinker dispersion 15", "the dispersion rate is fixed at 15 ppm"),
    e(S::Tinker, "allan", W, "tinker allan 1500", "ntpkit's loop adapts its time constant itself"),
    e(S::Tinker, "huffpuff", W, "tinker huffpuff 7200", "the huff-n'-puff filter is not implemented"),
    // ---- tos ----
    e(S::Tos, "minsane", K, "tos minsane 2", "survivors needed to synchronise"),
    e(S::Tos, "minclock", K, "tos minclock 4", "clustering stops pruning at this many survivors"),
    e(S::Tos, "maxclock", K, "tos maxclock 7", "most associations a pool fills to"),
    e(S::Tos, "maxdist", K, "tos maxdist 2", "root distance above which a source is rejected, s"),
    e(S::Tos, "mindist", K, "tos mindist 0.01", "root distance floor in selection, s"),
    e(S::Tos, "floor", K, "tos floor 2", "sources of a lower stratum are rejected"),
    e(S::Tos, "ceiling", K, "tos ceiling 10", "sources at or above this stratum are rejected"),
    e(S::Tos, "orphan", K, "tos orphan 10", "orphan mode stratum"),
    e(S::Tos, "orphanwait", K, "tos orphanwait 0", "wait before orphan mode, s"),
    e(S::Tos, "cohort", W, "tos cohort 1", "affects only manycast, which is not implemented"),
    e(S::Tos, "beacon", W, "tos beacon 60", "broadcast/manycast beacon: not implemented"),
    e(S::Tos, "bcpollbstep", W, "tos bcpollbstep 2", "broadcast is not implemented"),
    e(S::Tos, "basedate", W, "tos basedate 2020-01-01", "the era is taken from the system clock"),
    // ---- statistics ----
    e(S::Statistics, "loopstats", K, "statistics loopstats", "clock discipline, one line per update (NTPsec format)"),
    e(S::Statistics, "peerstats", K, "statistics peerstats", "one line per sample of each association (NTPsec format)"),
    e(S::Statistics, "rawstats", K, "statistics rawstats", "the four timestamps of each sample (NTPsec format)"),
    e(S::Statistics, "sysstats", K, "statistics sysstats", "hourly packet counters (NTPsec format)"),
    e(S::Statistics, "clockstats", W, "statistics clockstats", "only the LOCAL driver exists, which has no timecode to record (NTPsec writes none for it either)"),
    e(S::Statistics, "cryptostats", W, "statistics cryptostats", "Autokey/NTS are not implemented: nothing to log"),
    e(S::Statistics, "protostats", W, "statistics protostats", "not written"),
    e(S::Statistics, "timingstats", W, "statistics timingstats", "not written"),
    e(S::Statistics, "usestats", W, "statistics usestats", "not written"),
    // ---- filegen ----
    e(S::Filegen, "file", K, "filegen loopstats file loops", "base name in statsdir"),
    e(S::Filegen, "type", K, "filegen loopstats type week", "none, pid, day, week, month, year, age"),
    e(S::Filegen, "link", K, "filegen loopstats link", "keep the base name linked to the current file"),
    e(S::Filegen, "nolink", K, "filegen loopstats nolink", "no link"),
    e(S::Filegen, "enable", K, "filegen loopstats enable", "write this file"),
    e(S::Filegen, "disable", K, "filegen loopstats disable", "do not write this file"),
    // ---- discard ----
    e(S::Discard, "average", K, "discard average 4", "log2 of the average interval `limited` allows"),
    e(S::Discard, "minimum", K, "discard minimum 1", "minimum interval `limited` allows, s"),
    e(S::Discard, "monitor", W, "discard monitor 3000", "every client is monitored while the MRU list has room"),
    // ---- mru ----
    e(S::Mru, "maxmem", K, "mru maxmem 1024", "MRU list memory, KiB"),
    e(S::Mru, "maxdepth", K, "mru maxdepth 8192", "MRU list entries (when maxmem is not set)"),
    e(S::Mru, "mindepth", W, "mru mindepth 600", "the list is sized by memory only"),
    e(S::Mru, "maxage", W, "mru maxage 64", "entries go oldest first when the list is full"),
    e(S::Mru, "minage", W, "mru minage 64", "entries go oldest first when the list is full"),
    e(S::Mru, "initalloc", W, "mru initalloc 100", "memory is allocated as needed"),
    e(S::Mru, "initmem", W, "mru initmem 16", "memory is allocated as needed"),
    e(S::Mru, "incalloc", W, "mru incalloc 100", "memory is allocated as needed"),
    e(S::Mru, "incmem", W, "mru incmem 4", "memory is allocated as needed"),
    // ---- keys file ----
    e(S::KeyType, "MD5", K, "1 MD5 secret", "also `M`; ntp.org and NTPsec's default"),
    e(S::KeyType, "SHA1", K, "2 SHA1 0123456789abcdef0123456789abcdef01234567", "also `SHA`; 40 hex digits or text"),
    e(S::KeyType, "AES128CMAC", K, "3 AES128CMAC 0123456789abcdef0123456789abcdef", "also `AES`, `CMAC`; 32 hex digits"),
];

/// The row for `name` in `section`, if the table has one.
pub fn lookup(section: Section, name: &str) -> Option<&'static Entry> {
    TABLE
        .iter()
        .find(|e| e.section == section && e.name == name)
}

/// The rows of one section, in table order.
pub fn section(section: Section) -> impl Iterator<Item = &'static Entry> {
    TABLE.iter().filter(move |e| e.section == section)
}

/// How ntpkit treats one of ntpd's command-line flags (from clap's definition of ntpd,
/// see [`ntpd_flags`]).
#[derive(Clone, Debug)]
pub struct FlagRow {
    /// `-g`, `--panicgate`, … as ntp.org/NTPsec spell it.
    pub spelling: String,
    pub support: Support,
    pub note: String,
}

/// ntp.org 4.2.8 and NTPsec 1.2's ntpd flags (short, long), for the compatibility table.
pub const NTPD_FLAGS: &[(&str, &str)] = &[
    ("-4", "ipv4"),
    ("-6", "ipv6"),
    ("-a", "authreq"),
    ("-A", "authnoreq"),
    ("-b", "bcastsync"),
    ("-c", "configfile"),
    ("-d", "debug-level"),
    ("-D", "set-debug-level"),
    ("-f", "driftfile"),
    ("-g", "panicgate"),
    ("-G", "force-step-once"),
    ("-i", "jaildir"),
    ("-I", "interface"),
    ("-k", "keyfile"),
    ("-l", "logfile"),
    ("-L", "novirtualips"),
    ("-m", "mdns"),
    ("-M", "modifymmtimer"),
    ("-n", "nofork"),
    ("-N", "nice"),
    ("-p", "pidfile"),
    ("-P", "priority"),
    ("-q", "quit"),
    ("-r", "propagationdelay"),
    ("-s", "statsdir"),
    ("-t", "trustedkey"),
    ("-u", "user"),
    ("-U", "updateinterval"),
    ("-v", "var"),
    ("", "var"),
    ("", "dvar"),
    ("-w", "wait-sync"),
    ("-x", "slew"),
    ("-V", "version"),
    ("", "saveconfigquit"),
];

/// ntpd's flags against clap's definition of our ntpd: a flag clap knows works (its help
/// text is the note), one it does not know is rejected. Flags only ntpkit has are listed
/// after ntpd's.
pub fn ntpd_flags(cmd: &clap::Command) -> Vec<FlagRow> {
    // built, so clap's own --help and --version are among the arguments
    let mut cmd = cmd.clone();
    cmd.build();
    let args: Vec<&clap::Arg> = cmd.get_arguments().collect();
    let help = |a: &clap::Arg| {
        a.get_help()
            .map(|h| h.to_string())
            .unwrap_or_default()
            .replace('\n', " ")
    };
    let spell = |a: &clap::Arg| {
        let mut s = Vec::new();
        if let Some(c) = a.get_short() {
            s.push(format!("-{c}"));
        }
        if let Some(l) = a.get_long() {
            s.push(format!("--{l}"));
        }
        s.join(", ")
    };
    let mut rows = Vec::new();
    let mut used = std::collections::HashSet::new();
    for (short, long) in NTPD_FLAGS {
        let short_c = short.strip_prefix('-').and_then(|s| s.chars().next());
        let found = args.iter().find(|a| {
            (short_c.is_some() && a.get_short() == short_c)
                || (short.is_empty() && a.get_long() == Some(long))
        });
        let spelling = if short.is_empty() {
            format!("--{long}")
        } else {
            format!("{short} (--{long})")
        };
        match found {
            Some(a) => {
                used.insert(a.get_id().to_string());
                rows.push(FlagRow {
                    spelling,
                    support: Support::Works,
                    note: help(a),
                });
            }
            None => rows.push(FlagRow {
                spelling,
                support: Support::Rejected,
                note: "not accepted by ntpkit's ntpd".into(),
            }),
        }
    }
    for a in &args {
        if a.is_positional() || used.contains(a.get_id().as_str()) || a.is_hide_set() {
            continue;
        }
        let id = a.get_id().as_str();
        if id == "help" || id == "version" {
            continue;
        }
        rows.push(FlagRow {
            spelling: format!("{} (ntpkit)", spell(a)),
            support: Support::Works,
            note: help(a),
        });
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Severity};
    use std::path::Path;

    #[test]
    fn every_row_does_what_it_says() {
        let mut bad = Vec::new();
        // includefile reads the disk: its own tests cover it
        for row in TABLE
            .iter()
            .filter(|r| r.section != Section::KeyType && r.name != "includefile")
        {
            let (_, diags) =
                Config::parse_str(row.example, Path::new("/etc/ntp.conf")).expect("example");
            let warned = diags.iter().any(|d| {
                d.severity == Severity::Warning
                    && d.message.contains("accepted, not implemented")
                    && d.message.contains(row.name)
            });
            let errors = diags.iter().any(|d| d.is_error());
            let ok = match row.support {
                Support::Works => diags.is_empty(),
                Support::Warned => warned && !errors,
                Support::Rejected => errors,
            };
            if !ok {
                bad.push(format!(
                    "{:?} {}: {:?} -> {diags:?}",
                    row.section, row.name, row.support
                ));
            }
        }
        assert!(bad.is_empty(), "{bad:#?}");
    }

    #[test]
    fn key_type_rows_parse_as_keys() {
        for row in section(Section::KeyType) {
            let (keys, diags) =
                crate::config::keys_file::parse(row.example, Path::new("/etc/ntp.keys"));
            assert!(diags.is_empty(), "{}: {diags:?}", row.name);
            assert_eq!(keys.len(), 1, "{}", row.name);
        }
    }

    #[test]
    fn no_row_twice() {
        let mut seen = std::collections::HashSet::new();
        for r in TABLE {
            assert!(
                seen.insert((r.section, r.name)),
                "{:?} {}",
                r.section,
                r.name
            );
        }
    }
}
