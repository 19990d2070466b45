//! docs/compat.md, man/ntp.conf.5 and man/ntp.keys.5 must match what the compatibility
//! table (src/config/compat.rs) and ntpd's clap definition generate.
//! Regenerate with `NTPKIT_BLESS=1 cargo test --test generated_compat`.

use ntpkit::config::manual;
use std::path::PathBuf;

#[test]
fn compat_table_and_config_manuals_are_fresh() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let files = [
        (
            "docs/compat.md",
            manual::compat_markdown(&ntpkit::apps::ntpd::command()),
        ),
        ("man/ntp.conf.5", manual::ntp_conf_5()),
        ("man/ntp.keys.5", manual::ntp_keys_5()),
    ];
    let bless = std::env::var_os("NTPKIT_BLESS").is_some();
    let mut stale = Vec::new();
    for (rel, want) in files {
        let path = root.join(rel);
        if bless {
            std::fs::write(&path, &want).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(want.as_str()) {
            stale.push(rel);
        }
    }
    assert!(
        stale.is_empty(),
        "stale generated files (run NTPKIT_BLESS=1 cargo test --test generated_compat): {stale:?}"
    );
}
