//! Request signing for `ntpq -a keyid -k keyfile`, on top of the keys file support in
//! `wire::auth` (written on the `wire` branch; merged when it lands).

use super::client::Signer;
use std::path::Path;

pub fn signer_from_keyfile(path: &Path, key_id: u32) -> Result<Signer, String> {
    Err(format!(
        "{}: cannot use key {key_id}: keys file support is not built in yet",
        path.display()
    ))
}
