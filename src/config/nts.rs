//! NTPsec's `nts` directive: the NTS-KE server (`nts enable`, `cert`, `key`, `cookie`,
//! `mintls`/`maxtls`, `tlsciphersuites`, `aead`) and the site default CA of NTS clients
//! (`nts ca`). Several options may share one line, as in NTPsec's grammar
//! (`nts enable cert /etc/ntp/cert.pem key /etc/ntp/key.pem`).
//!
//! ntpkit extensions on the same line: `port N` (key-exchange port, default 4460),
//! `ntpserver NAME` and `ntpport N` (advertised in the server/port negotiation records, so
//! clients send their NTP packets elsewhere than the key-exchange host) and `rotate S`
//! (seconds between cookie keys, default a day, as chrony's `ntsrotate`), and
//! `nocerttimecheck [0|1]` (chrony's directive: NTS clients skip the certificate validity
//! times until the clock is first synchronised; default on only on a host without RTC).
//!
//! Parsing only records what the line says; files are read when the daemon starts.

use std::path::PathBuf;

use super::args::{Args, LineResult};
use super::diagnostic::{Diagnostic, Location};

/// The NTS-KE port (RFC 8915 §4).
pub const DEFAULT_KE_PORT: u16 = 4460;
/// A new cookie key every day (NTPsec, and the brief of issue 14).
pub const DEFAULT_ROTATE_SECS: u64 = 86_400;

/// AEAD_AES_SIV_CMAC_256 (RFC 5297), the algorithm every NTS implementation has.
pub const AEAD_AES_SIV_CMAC_256: u16 = 15;
/// AEAD_AES_SIV_CMAC_512.
pub const AEAD_AES_SIV_CMAC_512: u16 = 17;

/// What the `nts` lines say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NtsDirective {
    /// `nts enable` (a later `nts disable` clears it).
    pub enabled: bool,
    /// Where `nts enable` is, for messages about the server's files.
    pub enable_at: Option<Location>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// Trust anchors for NTS clients (`server … nts` without its own `ca`).
    pub ca: Option<PathBuf>,
    /// Where the cookie keys are kept (NTPsec's default when absent).
    pub cookie: Option<PathBuf>,
    pub port: u16,
    /// Preferred AEAD when the client offers it.
    pub aead: Option<u16>,
    /// TLS 1.3 cipher suites allowed, by IANA/OpenSSL name; None: rustls' defaults.
    pub ciphersuites: Option<Vec<String>>,
    pub rotate_secs: u64,
    pub ntp_server: Option<String>,
    pub ntp_port: Option<u16>,
    /// `nocerttimecheck`: Some(true) skip certificate times until the first
    /// synchronisation, Some(false) never; None: skip only when the host has no RTC.
    pub nocerttimecheck: Option<bool>,
}

impl Default for NtsDirective {
    fn default() -> Self {
        NtsDirective {
            enabled: false,
            enable_at: None,
            cert: None,
            key: None,
            ca: None,
            cookie: None,
            port: DEFAULT_KE_PORT,
            aead: None,
            ciphersuites: None,
            rotate_secs: DEFAULT_ROTATE_SECS,
            ntp_server: None,
            ntp_port: None,
            nocerttimecheck: None,
        }
    }
}

/// The AEAD ids ntpkit implements, by NTPsec's names (RFC 5297's, with `_`).
pub fn aead_by_name(name: &str) -> Option<u16> {
    match name.to_ascii_uppercase().replace('-', "_").as_str() {
        "AES_SIV_CMAC_256" => Some(AEAD_AES_SIV_CMAC_256),
        "AES_SIV_CMAC_512" => Some(AEAD_AES_SIV_CMAC_512),
        _ => None,
    }
}

/// TLS 1.3 cipher suites by the names OpenSSL (and so NTPsec's `tlsciphersuites`) uses.
pub const TLS13_SUITES: &[&str] = &[
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
];

/// The outcome of one `nts` line: what it set, and problems with single options (the
/// rest of the line still counts).
pub(crate) fn parse_line(
    nts: &mut NtsDirective,
    a: &mut Args,
    diags: &mut Vec<Diagnostic>,
) -> LineResult<()> {
    let first = a.expect("nts option (enable, cert, key, cookie, ca, mintls, maxtls, aead…)")?;
    let mut opt = Some(first);
    while let Some(o) = opt {
        match o.text.as_str() {
            "enable" => {
                nts.enabled = true;
                nts.enable_at = Some(a.location(None));
            }
            "disable" => nts.enabled = false,
            "cert" => nts.cert = Some(PathBuf::from(&a.path("certificate file")?.text)),
            "key" => nts.key = Some(PathBuf::from(&a.path("private key file")?.text)),
            "ca" => nts.ca = Some(PathBuf::from(&a.path("CA file or directory")?.text)),
            "cookie" => nts.cookie = Some(PathBuf::from(&a.path("cookie key file")?.text)),
            "port" => nts.port = a.uint("NTS-KE port", 1, 65535)? as u16,
            "ntpport" => nts.ntp_port = Some(a.uint("NTP port", 1, 65535)? as u16),
            "ntpserver" => nts.ntp_server = Some(a.expect("NTP server name")?.text.clone()),
            "nocerttimecheck" => {
                // chrony's `nocerttimecheck N` counts clock updates; ntpkit knows one: the
                // first synchronisation (chrony's 1). `0` says never, even without RTC.
                let on = match a.peek() {
                    Some(t) if t.text.bytes().all(|b| b.is_ascii_digit()) => {
                        a.bool01("nocerttimecheck (0: never, 1: until the first synchronisation)")?
                    }
                    _ => true,
                };
                nts.nocerttimecheck = Some(on);
            }
            "rotate" => nts.rotate_secs = a.uint("cookie key rotation, s", 1, 30 * 86_400)?,
            "mintls" | "maxtls" => {
                let v = a.expect("TLS version (TLS1.3)")?;
                let t = v.text.to_ascii_uppercase().replace('V', "");
                if t != "TLS1.3" {
                    diags.push(Diagnostic::error(
                        a.location(Some(v.column)),
                        format!(
                            "nts {} {}: refused, NTS needs TLS 1.3 (RFC 8915 §3) and ntpkit \
                             negotiates TLS 1.3 only; the rest of the line stands",
                            o.text, v.text
                        ),
                    ));
                }
            }
            "tlsciphersuites" => {
                let v = a.expect("TLS 1.3 cipher suite list")?;
                let (known, unknown): (Vec<&str>, Vec<&str>) = v
                    .text
                    .split(':')
                    .filter(|s| !s.is_empty())
                    .partition(|s| TLS13_SUITES.contains(s));
                if !unknown.is_empty() || known.is_empty() {
                    diags.push(Diagnostic::error(
                        a.location(Some(v.column)),
                        format!(
                            "nts tlsciphersuites {}: unknown or empty ({}); known: {}; \
                             the default suites are used",
                            v.text,
                            unknown.join(", "),
                            TLS13_SUITES.join(":")
                        ),
                    ));
                } else {
                    nts.ciphersuites = Some(known.iter().map(|s| s.to_string()).collect());
                }
            }
            "tlsciphers" | "tlsecdhcurves" => {
                let v = a.expect("list")?;
                diags.push(Diagnostic::warning(
                    a.location(Some(o.column)),
                    format!(
                        "nts {} {}: accepted, not implemented by ntpkit: rustls' TLS 1.3 \
                         defaults are used",
                        o.text, v.text
                    ),
                ));
            }
            "aead" => {
                let v = a.expect("AEAD name (AES_SIV_CMAC_256, AES_SIV_CMAC_512)")?;
                match aead_by_name(&v.text) {
                    Some(id) => nts.aead = Some(id),
                    None => diags.push(Diagnostic::error(
                        a.location(Some(v.column)),
                        format!(
                            "nts aead {}: not supported (AES_SIV_CMAC_256 or \
                             AES_SIV_CMAC_512); the client's preference is used",
                            v.text
                        ),
                    )),
                }
            }
            other => {
                return Err(a.error_at(
                    o,
                    format!(
                        "'{other}' is not an nts option (enable, disable, cert, key, ca, \
                         cookie, mintls, maxtls, tlsciphersuites, aead, port, nocerttimecheck)"
                    ),
                ))
            }
        }
        opt = a.next();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use std::path::Path;

    fn parse(text: &str) -> (NtsDirective, Vec<Diagnostic>) {
        let (c, d) = Config::parse_str(text, Path::new("/etc/ntp.conf")).unwrap();
        (c.nts, d)
    }

    #[test]
    fn debian_ntpsec_server_lines() {
        let (n, d) = parse(
            "nts key /etc/ntpsec/key.pem\nnts cert /etc/ntpsec/cert.pem\n\
             nts cookie /var/lib/ntpsec/nts-keys\nnts enable mintls TLS1.3\n",
        );
        assert!(d.is_empty(), "{d:?}");
        assert!(n.enabled);
        assert_eq!(n.enable_at.unwrap().line, 4);
        assert_eq!(n.key.unwrap(), Path::new("/etc/ntpsec/key.pem"));
        assert_eq!(n.cert.unwrap(), Path::new("/etc/ntpsec/cert.pem"));
        assert_eq!(n.cookie.unwrap(), Path::new("/var/lib/ntpsec/nts-keys"));
        assert_eq!(n.port, 4460);
    }

    #[test]
    fn several_options_on_one_line_and_extensions() {
        let (n, d) = parse(
            "nts enable cert c.pem key k.pem port 4461 aead AES_SIV_CMAC_512 \
             ntpserver ntp.example ntpport 1123 rotate 60 maxtls TLSv1.3\n",
        );
        assert!(d.is_empty(), "{d:?}");
        assert_eq!((n.port, n.aead, n.rotate_secs), (4461, Some(17), 60));
        assert_eq!(n.ntp_server.as_deref(), Some("ntp.example"));
        assert_eq!(n.ntp_port, Some(1123));
        let (n, _) = parse("nts enable\nnts disable\n");
        assert!(!n.enabled);
        assert_eq!(n.nocerttimecheck, None);
        let (n, d) = parse("nts nocerttimecheck enable\n");
        assert!(d.is_empty() && n.enabled, "{d:?}");
        assert_eq!(n.nocerttimecheck, Some(true));
        let (n, d) = parse("nts nocerttimecheck 0\nnts ca /etc/ca.pem nocerttimecheck 1\n");
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(n.nocerttimecheck, Some(true));
        let (n, _) = parse("nts nocerttimecheck 0\n");
        assert_eq!(n.nocerttimecheck, Some(false));
        let (_, d) = parse("nts nocerttimecheck 3\n");
        assert!(d[0].to_string().starts_with("/etc/ntp.conf:1:"), "{d:?}");
    }

    #[test]
    fn tls_below_1_3_is_refused_naming_the_line_and_the_rest_stands() {
        let (n, d) = parse("server 192.0.2.1\nnts mintls TLS1.2 enable\n");
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(d[0].is_error());
        let msg = d[0].to_string();
        assert!(
            msg.starts_with("/etc/ntp.conf:2:12: error: nts mintls TLS1.2: refused"),
            "{msg}"
        );
        assert!(msg.contains("TLS 1.3"), "{msg}");
        assert!(n.enabled);
    }

    #[test]
    fn bad_words_and_values_name_their_column() {
        let (_, d) = parse("nts frobnicate\n");
        assert_eq!(d[0].to_string(), "/etc/ntp.conf:1:5: error: 'frobnicate' is not an nts option (enable, disable, cert, key, ca, cookie, mintls, maxtls, tlsciphersuites, aead, port, nocerttimecheck)");
        let (n, d) = parse("nts aead CHACHA enable\nnts tlsciphersuites TLS_AES_256_GCM_SHA384\n");
        assert!(
            d[0].to_string().contains("nts aead CHACHA: not supported"),
            "{d:?}"
        );
        assert!(n.enabled);
        assert_eq!(
            n.ciphersuites,
            Some(vec!["TLS_AES_256_GCM_SHA384".to_string()])
        );
        let (_, d) = parse("nts port 0\n");
        assert!(d[0].message.contains("out of range"), "{d:?}");
        let (_, d) = parse("nts cert\n");
        assert!(d[0].message.contains("missing certificate file"), "{d:?}");
    }
}
