//! Request signing for `ntpq -a keyid -k keyfile`, on top of `wire::auth`'s keys file.

use super::client::Signer;
use crate::config::keys_file;
use std::path::{Path, PathBuf};

/// Why no signer could be built; the message names the file (and line).
#[derive(Debug, thiserror::Error)]
pub enum SignerError {
    /// The keys file could not be read (boxed: the keys file's error type belongs to
    /// the layer that reads it).
    #[error("{0}")]
    Load(Box<dyn std::error::Error + Send + Sync>),
    /// The file has no usable key with this id; `first_problem` is the file's first
    /// diagnostic (file:line), which often says why.
    #[error("{}: key {key_id} not found{}", .path.display(), parenthesised(.first_problem))]
    KeyNotFound {
        path: PathBuf,
        key_id: u32,
        first_problem: Option<String>,
    },
}

fn parenthesised(text: &Option<String>) -> String {
    text.as_ref().map(|t| format!(" ({t})")).unwrap_or_default()
}

/// Load `path` and build a signer for `key_id`.
pub fn signer_from_keyfile(path: &Path, key_id: u32) -> Result<Signer, SignerError> {
    let (store, diagnostics) = keys_file::load(path).map_err(|e| SignerError::Load(e.into()))?;
    let Some(key) = store.get(key_id).cloned() else {
        return Err(SignerError::KeyNotFound {
            path: path.to_path_buf(),
            key_id,
            first_problem: diagnostics.first().map(ToString::to_string),
        });
    };
    Ok(Signer {
        key_id,
        mac: Box::new(move |data: &[u8]| key.digest(data).as_bytes().to_vec()),
    })
}
