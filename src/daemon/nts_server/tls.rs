//! The key-exchange server's TLS settings: the certificate chain and private key read from
//! `nts cert` / `nts key`, TLS 1.3 only, ALPN `ntske/1`, rustls with ring.
//!
//! The files are re-read on SIGHUP and when they change on disk (a certificate renewed by
//! certbot or an ACME client): [`Identity::changed`] compares what `stat` says with what it
//! said when they were loaded. A reload that fails keeps the previous certificate in use.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// RFC 8915 §4: the ALPN protocol id of NTS-KE.
pub const ALPN_NTSKE: &[u8] = b"ntske/1";

/// What `stat` says of one file: enough to see a replacement (rename or rewrite).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some(Stamp {
        modified: m.modified().ok(),
        len: m.len(),
        inode: m.ino(),
    })
}

/// The loaded certificate and key, with the `stat` of their files at load time.
pub struct Identity {
    pub config: Arc<rustls::ServerConfig>,
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
    stamps: (Option<Stamp>, Option<Stamp>),
    /// The first certificate's subject and serial, for the log.
    pub summary: String,
}

/// Why the certificate and key could not be used; every message names the file(s).
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// Unreadable, or not PEM (`what` is `cert` or `key`).
    #[error("nts {what} {}: {error}", .path.display())]
    File {
        what: &'static str,
        path: PathBuf,
        error: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("nts cert {}: no PEM certificate in the file", .0.display())]
    NoCertificate(PathBuf),
    #[error("TLS 1.3: {0}")]
    Tls13(rustls::Error),
    /// rustls refused the pair (a key that does not match the certificate, say).
    #[error("nts cert {} / nts key {}: {error}", .cert.display(), .key.display())]
    Pair {
        cert: PathBuf,
        key: PathBuf,
        error: rustls::Error,
    },
}

impl Identity {
    /// Read both files and build the TLS configuration. Errors name the file.
    pub fn load(
        cert_path: &Path,
        key_path: &Path,
        suites: Option<&[String]>,
    ) -> Result<Identity, IdentityError> {
        // stat first: a file replaced while we read it is seen as changed next time
        let stamps = (stamp(cert_path), stamp(key_path));
        let read = |p: &Path, what: &'static str| {
            std::fs::read(p).map_err(|e| IdentityError::File {
                what,
                path: p.to_path_buf(),
                error: e.into(),
            })
        };
        let cert_pem = read(cert_path, "cert")?;
        let key_pem = read(key_path, "key")?;
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<_, _>>()
            .map_err(|e| IdentityError::File {
                what: "cert",
                path: cert_path.to_path_buf(),
                error: e.into(),
            })?;
        if certs.is_empty() {
            return Err(IdentityError::NoCertificate(cert_path.to_path_buf()));
        }
        let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| IdentityError::File {
            what: "key",
            path: key_path.to_path_buf(),
            error: e.into(),
        })?;
        let mut provider = rustls::crypto::ring::default_provider();
        if let Some(names) = suites {
            provider.cipher_suites.retain(|s| {
                names
                    .iter()
                    .any(|n| s.suite().as_str().is_some_and(|x| x == n))
            });
        }
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(IdentityError::Tls13)?
            .with_no_client_auth()
            .with_single_cert(certs.clone(), key)
            .map_err(|error| IdentityError::Pair {
                cert: cert_path.to_path_buf(),
                key: key_path.to_path_buf(),
                error,
            })?;
        config.alpn_protocols = vec![ALPN_NTSKE.to_vec()];
        // no session resumption: every key exchange derives fresh keys from a full
        // handshake (RFC 8915 §4 allows either; tickets would only add state)
        config.send_tls13_tickets = 0;
        Ok(Identity {
            config: Arc::new(config),
            cert_path: cert_path.to_path_buf(),
            key_path: key_path.to_path_buf(),
            stamps,
            summary: summary(&certs[0]),
        })
    }

    /// Whether either file looks different from when it was loaded.
    pub fn changed(&self) -> bool {
        (stamp(&self.cert_path), stamp(&self.key_path)) != self.stamps
    }
}

/// A short fingerprint of a certificate for the log: length and a hash of its DER bytes,
/// enough to tell the old one from the new after a renewal.
fn summary(cert: &CertificateDer<'_>) -> String {
    // FNV-1a: identification in a log line, not security
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in cert.as_ref() {
        h = (h ^ *b as u64).wrapping_mul(0x100_0000_01b3);
    }
    format!("{} bytes, fnv {h:016x}", cert.as_ref().len())
}
