//! Request signing for `ntpq -a keyid -k keyfile`, on top of `wire::auth`'s keys file.

use super::client::Signer;
use crate::config::keys_file;
use std::path::Path;

/// Load `path` and build a signer for `key_id`; errors name the file (and line).
pub fn signer_from_keyfile(path: &Path, key_id: u32) -> Result<Signer, String> {
    let (store, diagnostics) = keys_file::load(path).map_err(|e| e.to_string())?;
    let Some(key) = store.get(key_id).cloned() else {
        let mut msg = format!("{}: key {key_id} not found", path.display());
        if let Some(d) = diagnostics.first() {
            msg.push_str(&format!(" ({d})"));
        }
        return Err(msg);
    };
    Ok(Signer {
        key_id,
        mac: Box::new(move |data: &[u8]| key.digest(data).as_bytes().to_vec()),
    })
}
