//! Kernel transmit timestamps of our symmetric packets (`peer … xleave`), which the main
//! loop sends from the port-123 serving sockets.
//!
//! A serving socket's error queue belongs to the round that serves it (a worker thread, or
//! the main loop's task with `--single-thread`): two readers would steal each other's
//! timestamps. So the main loop sends its packet asking the kernel for a timestamp under a
//! key of its own (SCM_TS_OPT_ID, [`super::txstamp::write_tx_key`]), which leaves the
//! socket's counter — the one the round matches its interleaved replies by — untouched
//! (Linux counts only datagrams that ask for a timestamp, and not those that bring their own
//! key). The round, reading its error queue, hands timestamps under our keys to this
//! mailbox; the main loop picks them up before its next packet and before taking the
//! peer's.
//!
//! Our packets to a peer leave from the serving socket its packets come in on (an
//! SO_REUSEPORT group spreads peers over several): the round serving it reads its error
//! queue before it hands over a datagram, so our packet's timestamp is in the mailbox
//! before the peer's answer to it reaches the main loop.
//!
//! A round looks at its error queue for the mailbox only while a symmetric send's timestamp
//! has not come and for a second after each send (one atomic load per batch otherwise), and
//! takes the mailbox's lock only when it holds timestamps to hand over. A worker thread
//! looks on its receive timeouts too (a socket the peer's packets do not reach); the
//! `--single-thread` round, only when a datagram arrives — the peer's next packet, before
//! the main loop takes it.
//! A kernel without SCM_TS_OPT_ID (before Linux 6.13) refuses the send; symmetric packets
//! then go without a kernel timestamp (the user-space time read before the send).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;

use super::txstamp::TxStamp;
use crate::wire::time::NtpTimestamp;

/// Our keys have the top bit set: a socket's own counter (which starts at 0 and counts
/// interleaved replies) would need 2^31 of them to reach the range.
pub const KEY_BIT: u32 = 1 << 31;

/// Sends remembered at once: a few per symmetric association are enough (the main loop
/// asks about its latest packet only).
const SLOTS: usize = 32;

#[derive(Clone, Copy, Debug)]
struct Slot {
    key: u32,
    /// The user-space time read just before the send.
    before: NtpTimestamp,
    /// The kernel's latest timestamp for it (a datagram crossing a bridge is stamped at
    /// every device it leaves through; the last is the one next to the wire).
    at: Option<NtpTimestamp>,
}

#[derive(Default)]
pub struct Mailbox {
    /// NTP time (raw) until which rounds look for our timestamps; 0: no symmetric send yet.
    until: AtomicU64,
    next_key: AtomicU32,
    /// Sends whose timestamp has not come yet: with `--single-thread` the round reads its
    /// error queue only when a datagram arrives (the peer's next, maybe seconds later).
    unstamped: AtomicU32,
    slots: Mutex<VecDeque<Slot>>,
    /// The kernel refused a keyed send (no SCM_TS_OPT_ID): stop asking.
    unsupported: AtomicBool,
}

impl Mailbox {
    /// A key for the next symmetric send (None once the kernel said it has no keyed
    /// timestamps).
    pub fn next_key(&self) -> Option<u32> {
        if self.unsupported.load(Ordering::Relaxed) {
            return None;
        }
        Some(KEY_BIT | (self.next_key.fetch_add(1, Ordering::Relaxed) & !KEY_BIT))
    }

    /// The kernel refused a keyed send that went out without the key.
    pub fn set_unsupported(&self) {
        self.unsupported.store(true, Ordering::Relaxed);
    }

    /// A packet under `key` went to the kernel; `before` was read just before.
    pub fn sent(&self, key: u32, before: NtpTimestamp) {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        if slots.len() == SLOTS && slots.pop_front().is_some_and(|s| s.at.is_none()) {
            self.unstamped.fetch_sub(1, Ordering::Relaxed);
        }
        self.unstamped.fetch_add(1, Ordering::Relaxed);
        slots.push_back(Slot {
            key,
            before,
            at: None,
        });
        drop(slots);
        let until = NtpTimestamp(before.0.wrapping_add(1 << 32));
        self.until.store(until.0, Ordering::Relaxed);
    }

    /// For the rounds: whether timestamps of symmetric sends may be in the error queue: a
    /// send's first has not come, or one went out within the last second (a later copy may
    /// come). A clock read only on daemons that send symmetric packets in interleaved mode.
    pub fn wanted(&self) -> bool {
        let until = self.until.load(Ordering::Relaxed);
        until != 0
            && (self.unstamped.load(Ordering::Relaxed) > 0
                || (NtpTimestamp(until) - super::netio::now_ntp()).to_seconds() > 0.0)
    }

    /// For the rounds: take out of `stamps` those under our keys and keep the plausible
    /// ones (not before the send, within a second of it: a socket counter that reached our
    /// range by chance matches nothing here).
    pub fn claim(&self, stamps: &mut Vec<TxStamp>) {
        if !stamps.iter().any(|s| s.id & KEY_BIT != 0) {
            return;
        }
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        stamps.retain(|s| {
            let Some(slot) = slots.iter_mut().find(|x| x.key == s.id) else {
                return true;
            };
            let d = (s.at - slot.before).to_seconds();
            if (0.0..1.0).contains(&d) && !s.hardware {
                if slot.at.is_none() {
                    self.unstamped.fetch_sub(1, Ordering::Relaxed);
                }
                let later = slot.at.is_none_or(|a| (s.at - a).to_seconds() > 0.0);
                if later {
                    slot.at = Some(s.at);
                }
            }
            false
        });
    }

    /// For the main loop: the kernel's latest timestamp of the packet sent under `key`.
    pub fn stamp(&self, key: u32) -> Option<NtpTimestamp> {
        let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.iter().rev().find(|s| s.key == key).and_then(|s| s.at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(id: u32, at: NtpTimestamp) -> TxStamp {
        TxStamp {
            id,
            at,
            hardware: false,
        }
    }

    #[test]
    fn our_keys_are_taken_out_and_the_latest_stamp_kept() {
        let m = Mailbox::default();
        assert!(!m.wanted());
        let key = m.next_key().unwrap();
        assert_ne!(key & KEY_BIT, 0);
        let before = super::super::netio::now_ntp();
        m.sent(key, before);
        assert!(m.wanted());
        let us = |n: u64| NtpTimestamp(before.0 + n * 4295);
        // a reply of the round's own (counter 3) stays for the round
        let mut got = vec![stamp(3, us(1)), stamp(key, us(2)), stamp(key, us(15))];
        m.claim(&mut got);
        assert_eq!(got, [stamp(3, us(1))]);
        assert_eq!(m.stamp(key), Some(us(15)));
        // an earlier copy coming late changes nothing
        m.claim(&mut vec![stamp(key, us(2))]);
        assert_eq!(m.stamp(key), Some(us(15)));
    }

    #[test]
    fn a_send_without_its_timestamp_keeps_the_rounds_looking() {
        let m = Mailbox::default();
        let key = m.next_key().unwrap();
        // sent two seconds ago: past the window, but nothing has come yet
        let before = NtpTimestamp(super::super::netio::now_ntp().0 - (2 << 32));
        m.sent(key, before);
        assert!(m.wanted());
        m.claim(&mut vec![stamp(key, NtpTimestamp(before.0 + 4295))]);
        assert!(!m.wanted());
    }

    #[test]
    fn implausible_or_unknown_stamps_are_dropped() {
        let m = Mailbox::default();
        let key = m.next_key().unwrap();
        let before = NtpTimestamp(3_900_000_000 << 32);
        m.sent(key, before);
        // before the send, a minute later, and a key never sent
        let mut got = vec![
            stamp(key, NtpTimestamp(before.0 - (1 << 20))),
            stamp(key, NtpTimestamp(before.0 + (60 << 32))),
            stamp(key + 1, before),
        ];
        m.claim(&mut got);
        assert_eq!(got.len(), 1, "an unknown key is left to the round");
        assert_eq!(m.stamp(key), None);
        m.set_unsupported();
        assert_eq!(m.next_key(), None);
    }
}
