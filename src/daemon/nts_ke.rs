//! The NTS-KE client (RFC 8915 §4): a TLS 1.3 connection to port 4460 (ALPN `ntske/1`), one
//! request, one response, and the two AEAD keys taken from the TLS exporter.
//!
//! It runs as a task on the daemon's runtime; the main loop only gets the outcome back on a
//! channel, so a slow or hostile key-exchange server never holds up serving or polling.
//! The TLS configuration (trust anchors, `noval`) is built once per association, when the
//! configuration is read, so a bad `ca` file is reported at start-up naming its line.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::CertificateError;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::wire::nts::aead::{derive_keys, Aead, SessionKeys};
use crate::wire::nts::ke::{message_len, Request, Response, MAX_MESSAGE_LEN};
use crate::wire::nts::{ALPN, EXPORTER_LABEL, NEXT_PROTOCOL_NTPV4};

/// The whole exchange (connect, handshake, request, response) must finish in this time.
pub const KE_TIMEOUT: Duration = Duration::from_secs(10);

/// What one successful key exchange gives an association.
#[derive(Debug)]
pub struct KeOutcome {
    pub keys: SessionKeys,
    pub cookies: Vec<Vec<u8>>,
    /// Where to send NTP: the negotiated server and port, else the KE server's address
    /// and 123.
    pub ntp_addr: SocketAddr,
}

/// One key exchange to run.
#[derive(Clone)]
pub struct KeJob {
    /// The name (or address) the certificate must be for; also resolved to connect when
    /// `connect` is None.
    pub name: String,
    pub connect: Option<IpAddr>,
    pub port: u16,
    pub tls: Arc<ClientConfig>,
    /// AEAD algorithms to offer, preferred first.
    pub aead: Vec<Aead>,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Where a host's real-time clock shows up; without one the system clock starts wherever
/// the kernel put it (often 1970 or the image's build date) until NTP sets it.
pub const RTC_DEVICES: &[&str] = &["/dev/rtc0", "/dev/rtc", "/dev/misc/rtc"];

/// Whether certificate validity times are skipped until the first synchronisation
/// (`nts nocerttimecheck`, chrony's `nocerttimecheck 1`), and why, for the start-up log:
/// as configured, else on only when the host has no RTC.
pub fn nocerttimecheck(configured: Option<bool>, rtc_devices: &[&str]) -> (bool, String) {
    match configured {
        Some(true) => (true, "nts nocerttimecheck".into()),
        Some(false) => (false, "nts nocerttimecheck 0".into()),
        None => match rtc_devices.iter().find(|d| Path::new(d).exists()) {
            Some(d) => (false, format!("the host has an RTC ({d})")),
            None => (
                true,
                format!("the host has no RTC ({})", rtc_devices.join(", ")),
            ),
        },
    }
}

/// Why no TLS client configuration could be built for an NTS association (the log line
/// names the configuration line).
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("TLS 1.3: {0}")]
    Tls13(rustls::Error),
    #[error("ca {}: {error}", .path.display())]
    Ca { path: PathBuf, error: String },
    #[error("ca {}: no PEM certificate in it", .0.display())]
    NoPem(PathBuf),
    #[error("no trusted certificate in the system store (use `ca FILE`)")]
    NoSystemRoots,
    #[error("certificate verifier: {0}")]
    Verifier(rustls::client::VerifierBuilderError),
}

/// Why a key exchange failed; each names the server (or the name we could not use).
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    #[error("no complete answer within {} s", KE_TIMEOUT.as_secs())]
    Timeout,
    #[error("cannot resolve {name}: {error}")]
    Resolve { name: String, error: std::io::Error },
    #[error("{0} has no address")]
    NoAddress(String),
    #[error("{0} is not a valid server name")]
    BadName(String),
    #[error("connect to {addr}: {error}")]
    Connect {
        addr: SocketAddr,
        error: std::io::Error,
    },
    #[error("{0} closed the connection during the TLS handshake")]
    ClosedInHandshake(SocketAddr),
    #[error("TLS handshake with {addr}: {error}")]
    Handshake {
        addr: SocketAddr,
        error: std::io::Error,
    },
    #[error("{0} did not agree to ALPN ntske/1")]
    NoAlpn(SocketAddr),
    #[error("sending the request to {addr}: {error}")]
    Send {
        addr: SocketAddr,
        error: std::io::Error,
    },
    #[error("reading the response from {addr}: {error}")]
    Read {
        addr: SocketAddr,
        error: std::io::Error,
    },
    #[error("{addr} closed the connection before the end of its response ({read} bytes read)")]
    ClosedEarly { addr: SocketAddr, read: usize },
    #[error("{0}: response too long")]
    TooLong(SocketAddr),
    /// A transport, record or key-derivation failure, as its own error words it.
    #[error("{addr}: {error}")]
    At { addr: SocketAddr, error: String },
    #[error("{addr} named NTP server {name}: {error}")]
    NtpServer {
        addr: SocketAddr,
        name: String,
        error: std::io::Error,
    },
    #[error("{addr} named NTP server {name}, which has no address")]
    NtpServerNoAddress { addr: SocketAddr, name: String },
    #[error("{addr} answered with NTS-KE error {code}")]
    KeErrorRecord { addr: SocketAddr, code: u16 },
    #[error("{0} does not offer NTPv4")]
    NoNtpv4(SocketAddr),
    #[error("{addr} supports none of the AEAD algorithms we offered {offered:?} (empty AEAD record); set `aead` on the server line to one it has")]
    NoAeadInCommon { addr: SocketAddr, offered: Vec<u16> },
    #[error("{addr} chose an AEAD we did not offer ({chosen:?})")]
    UnofferedAead {
        addr: SocketAddr,
        chosen: Option<u16>,
    },
    #[error("{0} sent no cookie")]
    NoCookie(SocketAddr),
}

/// The TLS configuration of one `server … nts` line: trust the certificates in `ca` (a
/// PEM file) or else the system store; `noval` accepts any certificate (signatures in the
/// handshake are still checked, so the keys are still the server's). With `skip_time`,
/// certificate validity times are not checked while the flag it holds is false (the clock
/// has not been synchronised yet); chain and name always are.
pub fn tls_config(
    ca: Option<&Path>,
    noval: bool,
    skip_time: Option<Arc<AtomicBool>>,
) -> Result<Arc<ClientConfig>, TlsSetupError> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(TlsSetupError::Tls13)?;
    let mut config = if noval {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider())))
            .with_no_client_auth()
    } else {
        let mut roots = RootCertStore::empty();
        match ca {
            Some(path) => {
                let ca_error = |e: &dyn std::fmt::Display| TlsSetupError::Ca {
                    path: path.to_path_buf(),
                    error: e.to_string(),
                };
                let pem = std::fs::read(path).map_err(|e| ca_error(&e))?;
                let mut n = 0;
                for cert in CertificateDer::pem_slice_iter(&pem) {
                    let cert = cert.map_err(|e| ca_error(&e))?;
                    roots.add(cert).map_err(|e| ca_error(&e))?;
                    n += 1;
                }
                if n == 0 {
                    return Err(TlsSetupError::NoPem(path.to_path_buf()));
                }
            }
            None => {
                let found = rustls_native_certs::load_native_certs();
                let (added, _) = roots.add_parsable_certificates(found.certs);
                if added == 0 {
                    return Err(TlsSetupError::NoSystemRoots);
                }
            }
        }
        match skip_time {
            None => builder.with_root_certificates(roots).with_no_client_auth(),
            Some(synced) => {
                let inner =
                    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
                        .build()
                        .map_err(TlsSetupError::Verifier)?;
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(NoCertTimeCheck { inner, synced }))
                    .with_no_client_auth()
            }
        }
    };
    config.alpn_protocols = vec![ALPN.to_vec()];
    Ok(Arc::new(config))
}

/// `noval`: any certificate chain, but the handshake signature must still be made by the
/// key of the certificate presented.
#[derive(Debug)]
struct NoVerification(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        // TLS 1.3 only: never called
        Err(rustls::Error::General("TLS 1.2 is not offered".into()))
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `nocerttimecheck`: the full WebPKI verification, except that while the clock has not
/// been synchronised a certificate that is only expired or not yet valid is verified
/// again at a time inside its validity window, so chain, signatures, usage and name are
/// still checked. Once `synced` is set, times are checked as usual.
#[derive(Debug)]
struct NoCertTimeCheck {
    inner: Arc<WebPkiServerVerifier>,
    synced: Arc<AtomicBool>,
}

/// For a time error that says when the certificate is valid, a time when it is.
fn valid_time(e: &rustls::Error) -> Option<(UnixTime, &'static str)> {
    match e {
        rustls::Error::InvalidCertificate(CertificateError::ExpiredContext {
            not_after, ..
        }) => Some((*not_after, "expired")),
        rustls::Error::InvalidCertificate(CertificateError::NotValidYetContext {
            not_before,
            ..
        }) => Some((*not_before, "not valid yet")),
        // the forms without context (older webpki) carry no time to verify at: refused
        _ => None,
    }
}

impl ServerCertVerifier for NoCertTimeCheck {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let (mut at, mut why) = (now, "");
        // an intermediate may have its own window: a few tries, each at a time the last
        // error named
        for _ in 0..4 {
            let result =
                self.inner
                    .verify_server_cert(end_entity, intermediates, server_name, ocsp, at);
            let err = match result {
                Ok(v) => {
                    if at != now {
                        crate::daemon::log::notice(&format!(
                            "NTS: certificate of {} is {why} (clock at {} s, verified at \
                             {} s instead): accepted, nocerttimecheck applies until the \
                             clock is first synchronised",
                            server_name.to_str(),
                            now.as_secs(),
                            at.as_secs()
                        ));
                    }
                    return Ok(v);
                }
                Err(e) => e,
            };
            if self.synced.load(Ordering::Relaxed) {
                return Err(err);
            }
            match valid_time(&err) {
                Some((t, w)) if t != at => (at, why) = (t, w),
                _ => return Err(err),
            }
        }
        Err(rustls::Error::InvalidCertificate(CertificateError::Expired))
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Run one key exchange, bounded by [`KE_TIMEOUT`]. The error says what failed, for the
/// log line that names the server.
pub async fn key_exchange(job: KeJob) -> Result<KeOutcome, ExchangeError> {
    match tokio::time::timeout(KE_TIMEOUT, exchange(&job)).await {
        Ok(r) => r,
        Err(_) => Err(ExchangeError::Timeout),
    }
}

async fn exchange(job: &KeJob) -> Result<KeOutcome, ExchangeError> {
    let addr = match job.connect {
        Some(ip) => SocketAddr::new(ip, job.port),
        None => tokio::net::lookup_host((job.name.as_str(), job.port))
            .await
            .map_err(|error| ExchangeError::Resolve {
                name: job.name.clone(),
                error,
            })?
            .next()
            .ok_or_else(|| ExchangeError::NoAddress(job.name.clone()))?,
    };
    let name = match job.name.parse::<IpAddr>() {
        Ok(ip) => ServerName::IpAddress(ip.into()),
        Err(_) => ServerName::try_from(job.name.clone())
            .map_err(|_| ExchangeError::BadName(job.name.clone()))?,
    };
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|error| ExchangeError::Connect { addr, error })?;
    let connector = tokio_rustls::TlsConnector::from(job.tls.clone());
    let mut tls = connector
        .connect(name, tcp)
        .await
        .map_err(|error| match error.kind() {
            std::io::ErrorKind::UnexpectedEof => ExchangeError::ClosedInHandshake(addr),
            _ => ExchangeError::Handshake { addr, error },
        })?;
    if tls.get_ref().1.alpn_protocol() != Some(ALPN) {
        return Err(ExchangeError::NoAlpn(addr));
    }
    let ids: Vec<u16> = job.aead.iter().map(|a| a.id()).collect();
    tls.write_all(&Request::ntpv4(&ids).encode())
        .await
        .map_err(|error| ExchangeError::Send { addr, error })?;
    tls.flush().await.map_err(|e| ExchangeError::At {
        addr,
        error: e.to_string(),
    })?;
    let mut buf = Vec::with_capacity(2048);
    let len = loop {
        if let Some(n) = message_len(&buf).map_err(|e| ExchangeError::At {
            addr,
            error: e.to_string(),
        })? {
            break n;
        }
        let mut chunk = [0u8; 2048];
        let n = tls
            .read(&mut chunk)
            .await
            .map_err(|error| ExchangeError::Read { addr, error })?;
        if n == 0 {
            return Err(ExchangeError::ClosedEarly {
                addr,
                read: buf.len(),
            });
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > MAX_MESSAGE_LEN + chunk.len() {
            return Err(ExchangeError::TooLong(addr));
        }
    };
    let resp = Response::decode(&buf[..len]).map_err(|e| ExchangeError::At {
        addr,
        error: e.to_string(),
    })?;
    let aead = check_response(&addr, &resp, &job.aead)?;
    let conn = &tls.get_ref().1;
    let keys = derive_keys(NEXT_PROTOCOL_NTPV4, aead, |label, ctx, out| {
        debug_assert_eq!(label, EXPORTER_LABEL);
        conn.export_keying_material(out, label.as_bytes(), Some(ctx))
            .map(|_| ())
    })
    .map_err(|e| ExchangeError::At {
        addr,
        error: e.to_string(),
    })?;
    // best effort: the server may already have closed
    let _ = tls.shutdown().await;
    let port = resp.port.unwrap_or(123);
    let ntp_ip = match &resp.server {
        None => addr.ip(),
        Some(s) => match s.parse::<IpAddr>() {
            Ok(ip) => ip,
            Err(_) => tokio::net::lookup_host((s.as_str(), port))
                .await
                .map_err(|error| ExchangeError::NtpServer {
                    addr,
                    name: s.clone(),
                    error,
                })?
                .next()
                .ok_or_else(|| ExchangeError::NtpServerNoAddress {
                    addr,
                    name: s.clone(),
                })?
                .ip(),
        },
    };
    Ok(KeOutcome {
        keys,
        cookies: resp.cookies,
        ntp_addr: SocketAddr::new(ntp_ip, port),
    })
}

/// Whether a decoded response gives an association what it needs: NTPv4, an AEAD we
/// offered, at least one cookie. Returns the AEAD, or why the exchange failed.
fn check_response(
    addr: &SocketAddr,
    resp: &Response,
    offered: &[Aead],
) -> Result<Aead, ExchangeError> {
    let addr = *addr;
    if let Some(code) = resp.error {
        return Err(ExchangeError::KeErrorRecord { addr, code });
    }
    if !resp.next_protocols.contains(&NEXT_PROTOCOL_NTPV4) {
        return Err(ExchangeError::NoNtpv4(addr));
    }
    if resp.no_aead_in_common {
        return Err(ExchangeError::NoAeadInCommon {
            addr,
            offered: offered.iter().map(|a| a.id()).collect(),
        });
    }
    let aead = resp
        .aead
        .and_then(Aead::from_id)
        .filter(|a| offered.contains(a))
        .ok_or(ExchangeError::UnofferedAead {
            addr,
            chosen: resp.aead,
        })?;
    if resp.cookies.is_empty() {
        return Err(ExchangeError::NoCookie(addr));
    }
    Ok(aead)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The system tests' certificate helpers (std only), so the two cannot drift apart.
    mod certs {
        include!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/common/certs.rs"
        ));
    }

    /// A CA `name` in `dir`, as DER.
    fn ca(dir: &Path, name: &str) -> CertificateDer<'static> {
        CertificateDer::from_pem_file(certs::make_ca(dir, name)).unwrap()
    }

    fn verifier(root: CertificateDer<'static>, synced: bool) -> NoCertTimeCheck {
        let mut roots = RootCertStore::empty();
        roots.add(root).unwrap();
        NoCertTimeCheck {
            inner: WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
                .build()
                .unwrap(),
            synced: Arc::new(AtomicBool::new(synced)),
        }
    }

    /// The verifier with the time check skipped: a certificate used after its notAfter or
    /// before its notBefore (the clock is told so through `now`) is accepted while the
    /// clock is unsynchronised, and only then; a wrong CA or a wrong name never is.
    #[test]
    fn nocerttimecheck_skips_the_time_only_and_only_until_synchronised() {
        if std::process::Command::new("openssl")
            .arg("version")
            .output()
            .is_err()
        {
            eprintln!("SKIP: the openssl CLI is needed to make the test certificates");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let good = ca(d, "good");
        let other = ca(d, "other");
        let (ee, _) = certs::make_cert(d, "good", "ee", "198.18.0.2", None);
        let ee = CertificateDer::from_pem_file(ee).unwrap();
        let name = ServerName::IpAddress("198.18.0.2".parse::<IpAddr>().unwrap().into());
        let now = UnixTime::now().as_secs();
        let after = UnixTime::since_unix_epoch(Duration::from_secs(now + 400 * 86_400));
        let before = UnixTime::since_unix_epoch(Duration::from_secs(now - 400 * 86_400));
        let v = verifier(good.clone(), false);
        for t in [after, before, UnixTime::now()] {
            assert!(
                v.verify_server_cert(&ee, &[], &name, &[], t).is_ok(),
                "at {t:?}"
            );
        }
        // the name is still checked
        let wrong = ServerName::IpAddress("198.18.0.3".parse::<IpAddr>().unwrap().into());
        let e = v
            .verify_server_cert(&ee, &[], &wrong, &[], after)
            .unwrap_err();
        assert!(
            matches!(
                e,
                rustls::Error::InvalidCertificate(
                    CertificateError::NotValidForName
                        | CertificateError::NotValidForNameContext { .. }
                )
            ),
            "{e:?}"
        );
        // and the chain: another CA's trust does not make it valid, in or out of its window
        let v_other = verifier(other, false);
        for t in [after, UnixTime::now()] {
            let e = v_other
                .verify_server_cert(&ee, &[], &name, &[], t)
                .unwrap_err();
            assert_eq!(
                e,
                rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer),
                "at {t:?}"
            );
        }
        // once synchronised, the time is checked again
        v.synced.store(true, Ordering::Relaxed);
        let e = v
            .verify_server_cert(&ee, &[], &name, &[], after)
            .unwrap_err();
        assert!(
            matches!(
                e,
                rustls::Error::InvalidCertificate(CertificateError::ExpiredContext { .. })
            ),
            "{e:?}"
        );
        let e = v
            .verify_server_cert(&ee, &[], &name, &[], before)
            .unwrap_err();
        assert!(
            matches!(
                e,
                rustls::Error::InvalidCertificate(CertificateError::NotValidYetContext { .. })
            ),
            "{e:?}"
        );
        assert!(v
            .verify_server_cert(&ee, &[], &name, &[], UnixTime::now())
            .is_ok());
    }

    #[test]
    fn nocerttimecheck_default_follows_the_rtc() {
        let d = tempfile::tempdir().unwrap();
        let rtc = d.path().join("rtc0");
        let missing = d.path().join("rtc9");
        let (rtc, missing) = (rtc.to_str().unwrap(), missing.to_str().unwrap());
        assert!(nocerttimecheck(Some(true), &[]).0);
        assert!(!nocerttimecheck(Some(false), &[missing]).0);
        let (on, why) = nocerttimecheck(None, &[missing]);
        assert!(on && why.contains("no RTC"), "{why}");
        std::fs::write(rtc, "").unwrap();
        let (on, why) = nocerttimecheck(None, &[missing, rtc]);
        assert!(!on && why.contains(rtc), "{why}");
    }

    #[test]
    fn an_empty_aead_record_is_a_failed_exchange_saying_so() {
        let addr: SocketAddr = "198.18.0.2:4460".parse().unwrap();
        let offered = [Aead::AesSivCmac512];
        // as our server encodes it when it has none of the offered algorithms
        let wire = Response {
            next_protocols: vec![NEXT_PROTOCOL_NTPV4],
            no_aead_in_common: true,
            ..Response::default()
        }
        .encode();
        let resp = Response::decode(&wire).unwrap();
        let err = check_response(&addr, &resp, &offered)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("198.18.0.2:4460 supports none of the AEAD algorithms we offered [17]"),
            "{err}"
        );
        // the good case and the other refusals, for contrast
        let good = Response {
            next_protocols: vec![NEXT_PROTOCOL_NTPV4],
            aead: Some(17),
            cookies: vec![vec![1; 100]],
            ..Response::default()
        };
        assert_eq!(
            check_response(&addr, &good, &offered).ok(),
            Some(Aead::AesSivCmac512)
        );
        let other = Response {
            aead: Some(15),
            ..good.clone()
        };
        assert!(check_response(&addr, &other, &offered)
            .unwrap_err()
            .to_string()
            .contains("did not offer"));
        let no_cookie = Response {
            cookies: vec![],
            ..good
        };
        assert!(check_response(&addr, &no_cookie, &offered)
            .unwrap_err()
            .to_string()
            .contains("no cookie"));
    }
}
