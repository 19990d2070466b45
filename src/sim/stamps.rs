//! Timestamp error by kind: how far each of a packet's timestamps is from the instant the
//! packet really left or arrived, for user-space, kernel-software and hardware stamps.
//!
//! The numbers are a model, not a measurement of one machine, chosen to sit where the
//! namespace-LAN benchmark puts the three kinds (docs/benchmarks.md, "Timestamps where
//! the truth is zero"):
//!
//! - user space: a receive time read after the daemon wakes (late by 5 µs plus an
//!   exponential 10 µs), a transmit time read before `sendmsg` (early by the send path,
//!   10 µs, plus an exponential 5 µs): jitter and a bias that does not cancel;
//! - kernel software: stamped in the network stack, exponential 1 µs late on receive and
//!   1 µs early on transmit;
//! - hardware: the NIC's clock, 30 ns Gaussian each way.

use super::rng::Rng;
pub use crate::engine::Timestamps;

/// Error of a receive timestamp, s (positive: it reads late).
pub fn rx_error(kind: Timestamps, rng: &mut Rng) -> f64 {
    match kind {
        Timestamps::User => 5e-6 + 10e-6 * rng.exponential(),
        Timestamps::Kernel => 1e-6 * rng.exponential(),
        Timestamps::Hardware => 30e-9 * rng.normal(),
    }
}

/// Error of a transmit timestamp, s (negative: it was read before the packet left).
pub fn tx_error(kind: Timestamps, rng: &mut Rng) -> f64 {
    match kind {
        Timestamps::User => -(10e-6 + 5e-6 * rng.exponential()),
        Timestamps::Kernel => -(1e-6 * rng.exponential()),
        Timestamps::Hardware => 30e-9 * rng.normal(),
    }
}

/// The kind whose error dominates a sample taken with both: what the engine is told.
pub fn worse(a: Timestamps, b: Timestamps) -> Timestamps {
    if a.error_sd() >= b.error_sd() {
        a
    } else {
        b
    }
}

/// `user`, `kernel` or `hardware` (also `hw`).
pub fn parse(s: &str) -> Option<Timestamps> {
    match s.to_ascii_lowercase().as_str() {
        "user" => Some(Timestamps::User),
        "kernel" => Some(Timestamps::Kernel),
        "hardware" | "hw" => Some(Timestamps::Hardware),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kinds are ordered by error, and user-space transmit stamps carry a bias.
    #[test]
    fn user_stamps_are_worse_than_kernel_ones_which_are_worse_than_hardware() {
        let mut rng = Rng::new(7);
        let n = 20_000;
        let stats = |kind, rng: &mut Rng| {
            let (mut sum, mut sq) = (0.0, 0.0);
            for _ in 0..n {
                let e = tx_error(kind, rng) + rx_error(kind, rng);
                sum += e;
                sq += e * e;
            }
            (sum / n as f64, (sq / n as f64).sqrt())
        };
        let (_, user) = stats(Timestamps::User, &mut rng);
        let (_, kernel) = stats(Timestamps::Kernel, &mut rng);
        let (_, hw) = stats(Timestamps::Hardware, &mut rng);
        assert!(
            user > 5.0 * kernel && kernel > 5.0 * hw,
            "{user} {kernel} {hw}"
        );
        let tx_mean: f64 = (0..n)
            .map(|_| tx_error(Timestamps::User, &mut rng))
            .sum::<f64>()
            / n as f64;
        assert!((tx_mean + 15e-6).abs() < 1e-6, "{tx_mean}");
        assert_eq!(
            worse(Timestamps::Kernel, Timestamps::User),
            Timestamps::User
        );
        assert_eq!(parse("HW"), Some(Timestamps::Hardware));
        assert_eq!(parse("nic"), None);
    }
}
