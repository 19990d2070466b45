//! The NTS-KE server (RFC 8915 §4): a TLS 1.3 listener (ALPN `ntske/1`, default port 4460)
//! on the daemon's runtime, off the NTP serving threads. Each connection: handshake, one
//! request, one response (next protocol NTPv4, an AEAD, eight cookies, the NTP server and
//! port when configured), close. At most [`MAX_SESSIONS`] at once, each bounded by
//! [`SESSION_TIMEOUT`]; connections beyond that are closed at once.
//!
//! Alongside: the cookie keys are rotated when due (and saved), and the certificate and
//! key are re-read on SIGHUP and when their files change, so the next key exchange
//! presents a renewed certificate without a restart.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;

use super::cookies::CookieKeys;
use super::tls::{Identity, IdentityError};
use super::{NtsServer, MAX_COOKIES};
use crate::config::nts::NtsDirective;
use crate::daemon::log;
use crate::wire::nts::aead::{derive_keys, Aead, AeadError};
use crate::wire::nts::ke::{self, error_code, Request, Response};
use crate::wire::nts::NEXT_PROTOCOL_NTPV4;

/// Key exchanges served at once.
pub const MAX_SESSIONS: usize = 64;
/// Handshake, request and response together.
pub const SESSION_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the certificate files and the cookie key age are looked at.
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// NTPsec's (Debian's) default place for the cookie keys.
pub const DEFAULT_COOKIE_FILE: &str = "/var/lib/ntpsec/nts-keys";

/// Why `nts enable` cannot serve; `at` is the directive's `file:line: ` (or empty).
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error("{at}nts enable needs 'nts cert FILE' and 'nts key FILE'")]
    NoCertOrKey { at: String },
    #[error("{at}{error}")]
    Identity {
        at: String,
        error: Box<IdentityError>,
    },
    #[error("{at}NTS-KE port {port}: {error}")]
    Bind {
        at: String,
        port: u16,
        error: std::io::Error,
    },
}

/// Why one key exchange failed (logged at info with the client's address).
#[derive(Debug, thiserror::Error)]
enum SessionError {
    #[error("TLS handshake: {0}")]
    Handshake(std::io::Error),
    #[error("client did not offer ALPN ntske/1")]
    NoAlpn,
    #[error("reading the request: {0}")]
    Read(std::io::Error),
    #[error("connection closed before the end of the request")]
    ClosedEarly,
    #[error("bad request: {0}")]
    BadRequest(ke::KeError),
    #[error("sending the response: {0}")]
    Send(std::io::Error),
    #[error("no protocol in common (offered {0:?})")]
    NoProtocolInCommon(Vec<u16>),
    #[error("no AEAD in common (offered {0:?})")]
    NoAeadInCommon(Vec<u16>),
    #[error("key derivation: {0}")]
    KeyDerivation(AeadError),
}

/// Everything read before the daemon gives up root: the certificate, its key, the cookie
/// keys and the listening socket.
pub struct Prepared {
    pub server: Arc<NtsServer>,
    identity: Identity,
    listener: std::net::TcpListener,
    settings: NtsDirective,
    cookie_file: PathBuf,
}

impl Prepared {
    /// Read the files and bind the port. An error names the file or the port; the daemon
    /// refuses to start on it (an `nts enable` that cannot serve is a configuration error).
    pub fn new(nts: &NtsDirective, now: u64) -> Result<Prepared, PrepareError> {
        let at = nts
            .enable_at
            .as_ref()
            .map(|l| format!("{l}: "))
            .unwrap_or_default();
        let (Some(cert), Some(key)) = (&nts.cert, &nts.key) else {
            return Err(PrepareError::NoCertOrKey { at });
        };
        let identity = Identity::load(cert, key, nts.ciphersuites.as_deref()).map_err(|error| {
            PrepareError::Identity {
                at: at.clone(),
                error: Box::new(error),
            }
        })?;
        let cookie_file = nts
            .cookie
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_COOKIE_FILE));
        let keys = load_cookie_keys(&cookie_file, now, nts.rotate_secs);
        let listener = bind(nts.port).map_err(|error| PrepareError::Bind {
            at,
            port: nts.port,
            error,
        })?;
        log::notice(&format!(
            "NTS-KE server on port {} (TLS 1.3, certificate {}: {}); cookie keys in {}",
            nts.port,
            cert.display(),
            identity.summary,
            cookie_file.display()
        ));
        Ok(Prepared {
            server: Arc::new(NtsServer::new(keys)),
            identity,
            listener,
            settings: nts.clone(),
            cookie_file,
        })
    }

    /// The listener, the key rotation and the certificate watch, as tasks on the current
    /// runtime.
    pub fn spawn(self) -> std::io::Result<()> {
        self.listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(self.listener)?;
        let shared = Arc::new(KeState {
            server: self.server,
            tls: RwLock::new(self.identity),
            settings: self.settings,
            cookie_file: self.cookie_file,
        });
        tokio::spawn(accept_loop(listener, shared.clone()));
        tokio::spawn(maintain(shared));
        Ok(())
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The cookie keys from `path`, or fresh ones (saved) when it is missing or not ours.
fn load_cookie_keys(path: &std::path::Path, now: u64, rotate_secs: u64) -> CookieKeys {
    let mut keys = match std::fs::read_to_string(path) {
        Ok(text) => match CookieKeys::parse(&text) {
            Ok(k) => k,
            Err(e) => {
                log::warn(&format!(
                    "nts cookie {}: {e}; starting with a new key (cookies clients hold \
                     from before are refused, they do a new key exchange)",
                    path.display()
                ));
                CookieKeys::fresh(now)
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => CookieKeys::fresh(now),
        Err(e) => {
            log::warn(&format!(
                "nts cookie {}: {e}; starting with a new key",
                path.display()
            ));
            CookieKeys::fresh(now)
        }
    };
    keys.rotate_if_due(now, rotate_secs);
    save_keys(&keys, path);
    keys
}

fn save_keys(keys: &CookieKeys, path: &std::path::Path) {
    if let Err(e) = keys.save(path) {
        log::warn(&format!(
            "nts cookie {}: cannot save the cookie keys ({e}); a restart will refuse the \
             cookies clients hold",
            path.display()
        ));
    }
}

/// Dual-stack where the host has IPv6, else IPv4 only.
fn bind(port: u16) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let v6 = (|| {
        let s = Socket::new(Domain::IPV6, Type::STREAM, Some(Protocol::TCP))?;
        s.set_only_v6(false)?;
        s.set_reuse_address(true)?;
        s.bind(&SocketAddr::from(([0u16; 8], port)).into())?;
        s.listen(128)?;
        Ok::<_, std::io::Error>(s)
    })();
    let s = match v6 {
        Ok(s) => s,
        Err(_) => {
            let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
            s.set_reuse_address(true)?;
            s.bind(&SocketAddr::from(([0u8; 4], port)).into())?;
            s.listen(128)?;
            s
        }
    };
    Ok(s.into())
}

struct KeState {
    server: Arc<NtsServer>,
    tls: RwLock<Identity>,
    settings: NtsDirective,
    cookie_file: PathBuf,
}

impl KeState {
    fn reload(&self, why: &str) {
        let (cert, key) = {
            let id = self.tls.read().unwrap_or_else(|e| e.into_inner());
            (id.cert_path.clone(), id.key_path.clone())
        };
        match Identity::load(&cert, &key, self.settings.ciphersuites.as_deref()) {
            Ok(id) => {
                log::notice(&format!(
                    "NTS: {why}: certificate {} reloaded ({}); the next key exchange presents it",
                    cert.display(),
                    id.summary
                ));
                *self.tls.write().unwrap_or_else(|e| e.into_inner()) = id;
            }
            Err(e) => log::error(&format!(
                "NTS: {why}: {e}; the previous certificate stays in use"
            )),
        }
    }
}

async fn maintain(state: Arc<KeState>) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hup = signal(SignalKind::hangup()).ok();
    let mut tick = tokio::time::interval(CHECK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let changed = state.tls.read().unwrap_or_else(|e| e.into_inner()).changed();
                if changed {
                    state.reload("certificate or key file changed");
                }
                let mut keys = CookieKeys::clone(&state.server.keys());
                if keys.rotate_if_due(unix_now(), state.settings.rotate_secs) {
                    save_keys(&keys, &state.cookie_file);
                    log::info(&format!("NTS: new cookie key {:08x}", keys.ids()[0]));
                    state.server.set_keys(keys);
                }
            }
            Some(()) = async { match hup.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => {
                state.reload("SIGHUP");
            }
        }
    }
}

async fn accept_loop(listener: tokio::net::TcpListener, state: Arc<KeState>) {
    let slots = Arc::new(Semaphore::new(MAX_SESSIONS));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // EMFILE and friends: wait rather than spin
                log::warn(&format!("NTS-KE accept: {e}"));
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            bump_bad(&state.server);
            log::debug(&format!(
                "NTS-KE from {peer}: too many key exchanges at once; closed"
            ));
            continue;
        };
        let state = state.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let result = tokio::time::timeout(SESSION_TIMEOUT, session(stream, &state)).await;
            let outcome = match result {
                Ok(Ok(aead)) => {
                    state
                        .server
                        .counters
                        .ke_serves_good
                        .fetch_add(1, Ordering::Relaxed);
                    log::info(&format!(
                        "NTS-KE from {peer}: {aead}, {MAX_COOKIES} cookies"
                    ));
                    return;
                }
                Ok(Err(e)) => e.to_string(),
                Err(_) => format!(
                    "no complete exchange within {} s",
                    SESSION_TIMEOUT.as_secs()
                ),
            };
            bump_bad(&state.server);
            log::info(&format!("NTS-KE from {peer}: {outcome}"));
        });
    }
}

fn bump_bad(server: &NtsServer) {
    server
        .counters
        .ke_serves_bad
        .fetch_add(1, Ordering::Relaxed);
}

/// One key exchange. Returns the AEAD agreed on, or why it failed.
async fn session(stream: tokio::net::TcpStream, state: &KeState) -> Result<Aead, SessionError> {
    let config = state
        .tls
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .config
        .clone();
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let mut tls = acceptor
        .accept(stream)
        .await
        .map_err(SessionError::Handshake)?;
    if tls.get_ref().1.alpn_protocol() != Some(super::tls::ALPN_NTSKE) {
        return Err(SessionError::NoAlpn);
    }
    let mut buf = Vec::with_capacity(256);
    let len = loop {
        match ke::message_len(&buf) {
            Ok(Some(n)) => break Ok(n),
            Ok(None) => {}
            Err(e) => break Err(e),
        }
        let mut chunk = [0u8; 1024];
        let n = tls.read(&mut chunk).await.map_err(SessionError::Read)?;
        if n == 0 {
            return Err(SessionError::ClosedEarly);
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let (response, result) = match len.and_then(|n| Request::decode(&buf[..n])) {
        Err(e) => (Response::error(e.code()), Err(SessionError::BadRequest(e))),
        Ok(req) => {
            let conn = &tls.get_ref().1;
            respond(&req, &state.settings, &state.server, |label, ctx, out| {
                conn.export_keying_material(out, label.as_bytes(), Some(ctx))
                    .map(|_| ())
            })
        }
    };
    tls.write_all(&response.encode())
        .await
        .map_err(SessionError::Send)?;
    let _ = tls.shutdown().await;
    result
}

/// The configured AEAD when offered, else AES-SIV-CMAC-256 when offered (its 100-byte
/// cookies keep a request with seven placeholders within the serving threads' 1024-byte
/// receive buffer; AEAD 17's 164-byte ones would not), else the first offered we have.
fn choose_aead(configured: Option<u16>, offered: &[Aead]) -> Option<Aead> {
    configured
        .and_then(Aead::from_id)
        .filter(|a| offered.contains(a))
        .or_else(|| offered.iter().copied().find(|&a| a == Aead::AesSivCmac256))
        .or_else(|| offered.first().copied())
}

/// The response to a well-formed request; `export` is the session's TLS exporter.
fn respond<E: std::fmt::Display>(
    req: &Request,
    settings: &NtsDirective,
    server: &NtsServer,
    export: impl FnMut(&str, &[u8], &mut [u8]) -> Result<(), E>,
) -> (Response, Result<Aead, SessionError>) {
    if !req.next_protocols.contains(&NEXT_PROTOCOL_NTPV4) {
        // §4.1.2: an empty Next Protocol record says none of the offered ones is served
        return (
            Response::default(),
            Err(SessionError::NoProtocolInCommon(req.next_protocols.clone())),
        );
    }
    let offered: Vec<Aead> = req
        .aead
        .iter()
        .filter_map(|&id| Aead::from_id(id))
        .collect();
    let chosen = choose_aead(settings.aead, &offered);
    let Some(aead) = chosen else {
        // §4.1.5: the AEAD record is empty when none of the offered ones is supported;
        // no cookies (there are no keys to put in them)
        return (
            Response {
                next_protocols: vec![NEXT_PROTOCOL_NTPV4],
                no_aead_in_common: true,
                ..Response::default()
            },
            Err(SessionError::NoAeadInCommon(req.aead.clone())),
        );
    };
    let keys = match derive_keys(NEXT_PROTOCOL_NTPV4, aead, export) {
        Ok(k) => k,
        Err(e) => {
            return (
                Response::error(error_code::INTERNAL_SERVER_ERROR),
                Err(SessionError::KeyDerivation(e)),
            )
        }
    };
    let cookies = server.make_cookies(MAX_COOKIES, keys.c2s.as_bytes(), keys.s2c.as_bytes());
    (
        Response {
            next_protocols: vec![NEXT_PROTOCOL_NTPV4],
            aead: Some(aead.id()),
            cookies,
            server: settings.ntp_server.clone(),
            port: settings.ntp_port,
            ..Response::default()
        },
        Ok(aead),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aead_choice() {
        use Aead::{AesSivCmac256 as A15, AesSivCmac512 as A17};
        assert_eq!(choose_aead(None, &[A17, A15]), Some(A15));
        assert_eq!(choose_aead(None, &[A17]), Some(A17));
        assert_eq!(choose_aead(Some(17), &[A15, A17]), Some(A17));
        assert_eq!(choose_aead(Some(17), &[A15]), Some(A15));
        assert_eq!(choose_aead(None, &[]), None);
    }

    /// A stand-in TLS exporter: the context's last byte (0 C2S, 1 S2C) fills the key.
    fn export(_: &str, ctx: &[u8], out: &mut [u8]) -> Result<(), std::convert::Infallible> {
        out.fill(0x40 + ctx[4]);
        Ok(())
    }

    #[test]
    fn a_response_has_ntpv4_one_aead_eight_cookies_holding_the_exported_keys() {
        let server = NtsServer::new(CookieKeys::fresh(1));
        let mut settings = NtsDirective::default();
        let req = Request::ntpv4(&[17, 15]);
        let (resp, ok) = respond(&req, &settings, &server, export);
        assert_eq!(ok.map_err(|e| e.to_string()), Ok(Aead::AesSivCmac256));
        assert_eq!((resp.next_protocols, resp.aead), (vec![0], Some(15)));
        assert_eq!(resp.cookies.len(), 8);
        let (inside, _) = server.keys().open(&resp.cookies[3]).unwrap();
        assert_eq!((inside.c2s, inside.s2c), (vec![0x40; 32], vec![0x41; 32]));
        assert_eq!((resp.server, resp.port), (None, None));
        // the negotiation records when configured; the encoding decodes as a client reads it
        settings.ntp_server = Some("ntp.example".into());
        settings.ntp_port = Some(1123);
        let (resp, _) = respond(&req, &settings, &server, export);
        let back = Response::decode(&resp.encode()).unwrap();
        assert_eq!(back.server.as_deref(), Some("ntp.example"));
        assert_eq!((back.port, back.cookies.len()), (Some(1123), 8));
        // no NTPv4 offered: an empty Next Protocol record, no cookies
        let other = Request {
            next_protocols: vec![0x4242],
            ..Request::default()
        };
        let (resp, ok) = respond(&other, &settings, &server, export);
        assert!(ok.is_err());
        assert!(resp.next_protocols.is_empty() && resp.cookies.is_empty());
        // no AEAD we have: no cookies either
        let (resp, ok) = respond(&Request::ntpv4(&[30, 1]), &settings, &server, export);
        assert_eq!(
            ok.map_err(|e| e.to_string()),
            Err("no AEAD in common (offered [30, 1])".into())
        );
        assert!(resp.cookies.is_empty() && resp.aead.is_none() && resp.no_aead_in_common);
        // on the wire: NTPv4, an AEAD record with an empty body, no cookie, no server/port
        let back = Response::decode(&resp.encode()).unwrap();
        assert_eq!(back.next_protocols, vec![NEXT_PROTOCOL_NTPV4]);
        assert!(back.no_aead_in_common && back.aead.is_none() && back.cookies.is_empty());
        assert_eq!((back.server, back.port, back.error), (None, None, None));
    }
}
