//! The keys file on disk: read it and report its bad lines as `file:line[:column]`
//! diagnostics. Parsing the text into keys is `wire::auth`'s ([`KeyStore::from_text`]).

use super::diagnostic::{ConfigError, Diagnostic, Location};
use crate::wire::auth::KeyStore;
use std::path::Path;

/// Read a keys file (`keyid type key [addresses]` lines). Bad lines are reported as
/// `file:line` diagnostics and skipped, as ntpd does; only an unreadable file fails.
pub fn load(path: &Path) -> Result<(KeyStore, Vec<Diagnostic>), ConfigError> {
    let bytes = std::fs::read(path).map_err(|source| ConfigError::Unreadable {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(parse(&String::from_utf8_lossy(&bytes), path))
}

/// Parse keys-file text; `origin` names the file in diagnostics.
pub fn parse(text: &str, origin: &Path) -> (KeyStore, Vec<Diagnostic>) {
    let (store, issues) = KeyStore::from_text(text);
    let diags = issues
        .into_iter()
        .map(|issue| {
            let at = Location::new(origin, issue.line, issue.column);
            if issue.error.is_warning() {
                Diagnostic::warning(at, issue.error.to_string())
            } else {
                Diagnostic::error(at, issue.error.to_string())
            }
        })
        .collect();
    (store, diags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_key_is_a_warning_without_column() {
        let (ks, d) = parse("1 M a\n1 M b\n", Path::new("k"));
        assert_eq!(ks.len(), 1);
        assert_eq!(d.len(), 1);
        assert_eq!(
            d[0].to_string(),
            "k:2: warning: key 1 defined again; the later line wins"
        );
    }

    #[test]
    fn keys_file_errors_name_file_line_column() {
        let text = "1 M ok\n0 M zero\n2 FOO x\n3 M\n4 M 0123456789abcdef0123456789abcdefxyz\n\
                    5 M 0123456789abcdef0123456789abcdef012\n70000 M big\n6 M k 999.1.1.1\n";
        let (ks, d) = parse(text, Path::new("/etc/ntp.keys"));
        assert_eq!(ks.len(), 1);
        let s: Vec<String> = d.iter().map(|d| d.to_string()).collect();
        assert_eq!(s.len(), 7, "{s:#?}");
        assert!(
            s[0].starts_with("/etc/ntp.keys:2:1: error: key id '0'"),
            "{}",
            s[0]
        );
        assert!(
            s[1].starts_with("/etc/ntp.keys:3:3: error: unknown key type 'FOO'"),
            "{}",
            s[1]
        );
        assert!(
            s[2].starts_with("/etc/ntp.keys:4:4: error: missing key"),
            "{}",
            s[2]
        );
        assert!(
            s[3].contains(":5:5: error: a key longer than 20"),
            "{}",
            s[3]
        );
        assert!(
            s[4].contains(":6:5: error: hex key has an odd number"),
            "{}",
            s[4]
        );
        assert!(s[5].contains(":7:1: error: key id '70000'"), "{}", s[5]);
        assert!(s[6].contains(":8:7: error: bad address"), "{}", s[6]);
    }
}
