//! Random bytes from the kernel, in one place: NTS keys, nonces and unique identifiers,
//! the control protocol's nonce secret and ntpdate's unguessable transmit timestamps. The
//! `getrandom` crate calls getrandom(2) and itself falls back to /dev/urandom on kernels
//! older than 3.17, the case the hand-written fallbacks this replaces were for.

/// Fill `buf` from the kernel's CSPRNG (blocking only at early boot, until the pool is
/// seeded).
///
/// # Panics
/// On a system with neither getrandom(2) nor a readable /dev/urandom: there is no sound
/// way on to make keys or nonces there, and no input of ours can cause it.
pub fn fill(buf: &mut [u8]) {
    if let Err(e) = getrandom::getrandom(buf) {
        panic!("no kernel random source (getrandom(2) or /dev/urandom): {e}");
    }
}

/// `N` random bytes.
pub fn array<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    fill(&mut b);
    b
}

/// A random `u64`.
pub fn u64() -> u64 {
    u64::from_le_bytes(array())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_differ() {
        // 128 bits equal by chance: never in practice
        assert_ne!(array::<16>(), array::<16>());
        assert_ne!((u64(), u64()), (u64(), u64()));
        let mut big = vec![0u8; 8192];
        fill(&mut big);
        assert!(big.iter().any(|&b| b != 0));
    }
}
