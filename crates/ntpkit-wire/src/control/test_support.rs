//! A recorded NTPsec session for tests here and in the `ntpkit` crate's mode 6 client and
//! server (a crate's `#[cfg(test)]` items are invisible to other crates' tests). The data
//! is linked only into what calls it.

/// (frame, source port, destination port, payload) of a real NTPsec ntpq/ntpd session.
pub fn ntpsec_capture() -> Vec<(u32, u16, u16, Vec<u8>)> {
    include_str!("../testdata/ntpsec-1.2.2-mode6.tsv")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let hex = f[3];
            let bytes = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            (
                f[0].parse().unwrap(),
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
                bytes,
            )
        })
        .collect()
}
