//! Serving time: the receive → respond → send rounds over the port-123 sockets.
//!
//! Multi-threaded mode: each family gets an SO_REUSEPORT group with one socket per worker
//! thread; the kernel spreads clients over them by address hash, so one client always
//! meets the same worker (and the same MRU shard). Workers answer client requests
//! themselves and hand everything else (mode 6, replies to our own associations) to the
//! main loop, so a flood of requests never waits behind, or delays, the discipline loop.
//!
//! `--single-thread`: one socket per family, polled by the main loop's current-thread
//! runtime; the very same round function runs there, non-blocking.

use std::collections::HashSet;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use super::access::AccessPolicy;
use super::auth::AuthVerdict;
use super::mru::Mru;
use super::netio::{now_ntp, LocalAddr, RecvBatch, SendBatch};
use super::respond::{respond, DropReason, Outcome};
use super::status::ServerStatus;
use crate::wire::packet::HEADER_LEN;
use crate::wire::time::NtpTimestamp;

/// Datagrams per recvmmsg/sendmmsg call.
pub const BATCH: usize = 32;

/// Counters for `ntpq -c sysstats`-like reporting and for the benchmark.
#[derive(Default)]
pub struct Counters {
    pub received: AtomicU64,
    pub replied: AtomicU64,
    pub kod_sent: AtomicU64,
    pub rate_limited: AtomicU64,
    pub restricted: AtomicU64,
    pub malformed: AtomicU64,
    pub bad_auth: AtomicU64,
    pub declined: AtomicU64,
    pub this_version: AtomicU64,
    pub old_version: AtomicU64,
    /// Mode 6 requests handed to the control server.
    pub control: AtomicU64,
    /// Packets for the main loop dropped because its queue was full.
    pub handoff_dropped: AtomicU64,
    /// Replies the fast path handed to the kernel, and those it refused (`iostats`).
    pub sent: AtomicU64,
    pub send_failed: AtomicU64,
    /// Receive calls on the serving sockets, and those that returned datagrams.
    pub wakeups: AtomicU64,
    pub good_wakeups: AtomicU64,
    /// Replies sent in interleaved mode (RFC 9769), and kernel transmit timestamps read.
    pub interleaved: AtomicU64,
    pub kernel_tx: AtomicU64,
    /// Basic replies probed for tx_predict.rs, and the latest send latency learnt (ns;
    /// 0: none yet).
    pub tx_probes: AtomicU64,
    pub tx_latency_ns: AtomicU64,
}

impl Counters {
    fn tx_learnt(&self, learnt: super::tx_predict::Learnt) {
        self.tx_probes.fetch_add(1, Ordering::Relaxed);
        if let Some(ns) = learnt.estimate_ns {
            self.tx_latency_ns.store(ns as u64, Ordering::Relaxed);
        }
    }
}

pub fn count_dropped_handoff(shared: &Shared) {
    shared
        .counters
        .handoff_dropped
        .fetch_add(1, Ordering::Relaxed);
}

/// State the workers read and the main loop writes.
pub struct Shared {
    pub status: RwLock<ServerStatus>,
    pub access: RwLock<Arc<dyn AccessPolicy>>,
    /// One MRU shard per serving socket (None: monitoring disabled).
    pub mru_shards: Vec<Arc<Mutex<Mru>>>,
    pub monitor: bool,
    /// `keys` + `trustedkey`: authenticated replies (None: no keys configured).
    pub auth: RwLock<Option<Arc<super::auth::ServerAuth>>>,
    pub counters: Counters,
    pub stop: AtomicBool,
    /// Addresses of `peer` associations: their mode 1 packets go to the association,
    /// not to the stateless answer.
    pub symmetric_peers: RwLock<Arc<HashSet<IpAddr>>>,
    /// Set once the daemon has (or is configured for) a symmetric association: from then on
    /// a quiet worker wakes every [`QUIET_LOOK_MS`] to hand the main loop's symmetric
    /// transmit stamps over (see `sym_txstamp`). Without one, workers sleep until a datagram
    /// comes or [`wake_worker`] at shutdown.
    pub symmetric_seen: AtomicBool,
    /// `nts enable`: the NTS server's cookie keys and counters.
    pub nts_server: Option<Arc<super::nts_server::NtsServer>>,
    /// Interleaved mode: kernel transmit times of replies to clients asking for it (None:
    /// basic mode only).
    pub xleave: Option<super::xleave::ServerTable>,
    /// Kernel transmit timestamps of the main loop's symmetric packets, which the rounds
    /// find in their sockets' error queues (see `sym_txstamp`).
    pub sym_tx: super::sym_txstamp::Mailbox,
}

impl Shared {
    pub fn status(&self) -> ServerStatus {
        *self.status.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn set_status(&self, s: ServerStatus) {
        *self.status.write().unwrap_or_else(|e| e.into_inner()) = s;
    }

    /// The locked MRU shard responsible for `addr` (None with monitoring off).
    pub fn shard_for(&self, addr: std::net::IpAddr) -> Option<std::sync::MutexGuard<'_, Mru>> {
        if !self.monitor || self.mru_shards.is_empty() {
            return None;
        }
        use std::hash::{BuildHasher, BuildHasherDefault};
        let h = BuildHasherDefault::<super::mru::AddrHasher>::default().hash_one(addr);
        let i = (h >> 32) as usize % self.mru_shards.len();
        Some(self.mru_shards[i].lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn add_symmetric_peer(&self, addr: IpAddr) {
        self.symmetric_seen.store(true, Ordering::Relaxed);
        self.edit_symmetric_peers(|set| {
            set.insert(addr);
        });
    }

    pub fn remove_symmetric_peer(&self, addr: IpAddr) {
        self.edit_symmetric_peers(|set| {
            set.remove(&addr);
        });
    }

    /// Copy-on-write: the set is replaced by an edited copy, never changed in place.
    fn edit_symmetric_peers(&self, edit: impl FnOnce(&mut HashSet<IpAddr>)) {
        let mut peers = self
            .symmetric_peers
            .write()
            .unwrap_or_else(|e| e.into_inner());
        let mut set = HashSet::clone(&peers);
        edit(&mut set);
        *peers = Arc::new(set);
    }

    pub fn is_symmetric_peer(&self, addr: IpAddr) -> bool {
        self.symmetric_peers
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&addr)
    }

    pub fn access(&self) -> Arc<dyn AccessPolicy> {
        self.access
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// A packet the fast path does not handle itself.
#[derive(Debug)]
pub struct Handoff {
    pub data: Vec<u8>,
    pub src: SocketAddr,
    pub rx: NtpTimestamp,
    pub local: Option<LocalAddr>,
    pub kind: HandoffKind,
    /// Which socket it came in on (index into the daemon's socket list), for the reply.
    pub socket: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandoffKind {
    Control,
    Association,
}

/// One batch's counts, added to the shared [`Counters`] at the end of the batch.
#[derive(Default)]
struct Tally {
    received: u64,
    replied: u64,
    kod_sent: u64,
    rate_limited: u64,
    restricted: u64,
    malformed: u64,
    bad_auth: u64,
    declined: u64,
    this_version: u64,
    old_version: u64,
    control: u64,
    interleaved: u64,
}

impl Tally {
    fn add_to(&self, c: &Counters) {
        for (counter, n) in [
            (&c.received, self.received),
            (&c.replied, self.replied),
            (&c.kod_sent, self.kod_sent),
            (&c.rate_limited, self.rate_limited),
            (&c.restricted, self.restricted),
            (&c.malformed, self.malformed),
            (&c.bad_auth, self.bad_auth),
            (&c.declined, self.declined),
            (&c.this_version, self.this_version),
            (&c.old_version, self.old_version),
            (&c.control, self.control),
            (&c.interleaved, self.interleaved),
        ] {
            if n > 0 {
                counter.fetch_add(n, Ordering::Relaxed);
            }
        }
    }
}

/// Buffers for one socket's rounds.
pub struct Round {
    recv: RecvBatch,
    send: SendBatch,
    pub socket_index: usize,
    xleave: XleaveRound,
}

/// Interleaved mode's share of a round: the batch's replies whose kernel transmit time is
/// wanted (index in the send batch, the receive timestamp they carry), and the socket's
/// timestamps still to come from the error queue.
///
/// The same machinery carries the probes of tx_predict.rs: basic replies whose kernel
/// transmit time is asked for to learn how long after the transmit timestamp is written a
/// reply really leaves (the socket's timestamp counter covers both kinds).
struct XleaveRound {
    batch: Vec<(usize, Stamped)>,
    pending: super::txstamp::Pending<Stamped>,
    stamps: Vec<super::txstamp::TxStamp>,
    queue: super::txstamp::ErrQueue,
    predict: super::tx_predict::Predictor,
}

/// Why a reply's kernel transmit timestamp was asked for.
#[derive(Clone, Copy, Debug)]
enum Stamped {
    /// An interleaved-capable reply, by the receive timestamp it carried.
    Xleave(u64),
    /// A probe of tx_predict.rs: first what it measures, then (once sent) its key.
    Target(super::tx_predict::Target),
    Probe(super::tx_predict::Probe),
}

impl Round {
    pub fn new(socket_index: usize) -> Self {
        Round {
            recv: RecvBatch::new(BATCH),
            send: SendBatch::new(BATCH),
            socket_index,
            xleave: XleaveRound {
                batch: Vec::with_capacity(BATCH),
                pending: super::txstamp::Pending::new(4 * BATCH),
                stamps: Vec::with_capacity(BATCH),
                queue: super::txstamp::ErrQueue::new(2 * BATCH),
                predict: super::tx_predict::Predictor::new(),
            },
        }
    }

    /// After a flush: remember the daemon's transmit time of each interleaved-capable reply
    /// and the time each probe was sent, then read whatever kernel timestamps are already
    /// queued.
    fn after_flush(&mut self, fd: RawFd, shared: &Shared) {
        let at = self.send.flushed_at();
        let x = &mut self.xleave;
        for &(i, what) in &x.batch {
            if !self.send.kernel_stamped(i) {
                continue;
            }
            let key = match what {
                Stamped::Xleave(rx) => {
                    if let Some(table) = shared.xleave.as_ref() {
                        table.save(rx, self.send.written_at(i));
                    }
                    what
                }
                Stamped::Target(t) => Stamped::Probe(x.predict.sent(t, at)),
                Stamped::Probe(_) => what,
            };
            x.pending.sent(key, at);
        }
        x.batch.clear();
        self.read_kernel_stamps(fd, shared);
    }

    fn read_kernel_stamps(&mut self, fd: RawFd, shared: &Shared) {
        // replies and probes of ours waiting for timestamps (interleaved mode, tx_predict)
        let ours = !self.xleave.pending.is_empty();
        // the main loop's symmetric packets, rare: only then a look (see sym_txstamp)
        let symmetric = !ours && shared.sym_tx.wanted();
        if !ours && !symmetric {
            return;
        }
        self.xleave.stamps.clear();
        if self
            .xleave
            .queue
            .drain(fd, &mut self.xleave.stamps, 4 * BATCH)
            == 0
        {
            // the later copies of a datagram's timestamp (see txstamp::Pending) come within
            // microseconds; a round later, none is coming
            self.xleave.pending.settle();
            if let Some(learnt) = self.xleave.predict.settle() {
                shared.counters.tx_learnt(learnt);
            }
        }
        shared.sym_tx.claim(&mut self.xleave.stamps);
        let mut n = 0;
        for st in &self.xleave.stamps {
            match self.xleave.pending.matched(st) {
                Some(Stamped::Xleave(rx)) => {
                    if let Some(table) = shared.xleave.as_ref() {
                        table.update(rx, st.at);
                    }
                    n += 1;
                }
                Some(Stamped::Probe(p)) => self.xleave.predict.stamped(p, st.at),
                _ => {}
            }
        }
        if n > 0 {
            shared.counters.kernel_tx.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Receive one batch, answer what the fast path answers, hand the rest to `handoff`.
    /// Returns the number of datagrams received (0 never happens on success: WouldBlock
    /// and timeouts come back as errors).
    pub fn run(
        &mut self,
        fd: RawFd,
        shared: &Shared,
        wait: bool,
        handoff: &mut dyn FnMut(Handoff),
    ) -> io::Result<usize> {
        let n = self.recv.recv(fd, wait)?;
        // kernel timestamps of the last round's replies, before requests look them up
        self.read_kernel_stamps(fd, shared);
        let status = shared.status();
        let access = shared.access();
        // Counted locally and added once per batch: the counters are shared by every
        // worker, and an atomic add per packet on a shared cache line costs more than
        // answering the packet.
        let mut t = Tally::default();
        let mut out = [0u8; HEADER_LEN];
        for i in 0..n {
            let Some(pkt) = self.recv.get(i) else {
                continue;
            };
            let rx = pkt.rx.unwrap_or_else(now_ntp);
            match pkt.data.first().map(|b| (b >> 3) & 7) {
                Some(4) => t.this_version += 1,
                Some(1..=3) => t.old_version += 1,
                _ => {}
            }
            // SO_REUSEPORT spreads a client's ports over sockets; its MRU entry must not
            // depend on which one, so shards are chosen by source address.
            let mut shard = shared.shard_for(pkt.src.ip());
            let symmetric_poll = pkt.data.first().is_some_and(|b| b & 7 == 1)
                && shared.is_symmetric_peer(pkt.src.ip());
            let outcome = respond(
                pkt.data,
                pkt.src,
                rx,
                access.as_ref(),
                shard.as_deref_mut(),
                &status,
                &mut out,
            );
            let outcome = if symmetric_poll {
                // a configured peer's mode 1 is a sample for its association (which
                // answers it with its own next poll), once restrictions and the monitor
                // let it through as anyone's
                super::respond::for_symmetric_peer(outcome)
            } else {
                outcome
            };
            match outcome {
                Outcome::Reply if pkt.data.len() > HEADER_LEN => {
                    // NTS (RFC 8915): authenticated by the cookie's keys, not by `keys`
                    if nts_request(shared, pkt.data) {
                        let lead = self.xleave.predict.lead(pkt.local, rx);
                        if let Some(reply) = serve_nts(shared, pkt.data, &out, lead) {
                            t.replied += 1;
                            self.send.push(&reply, pkt.src, pkt.local, false);
                        }
                        continue;
                    }
                    // the rare path: extension fields and/or a MAC
                    let auth = shared
                        .auth
                        .read()
                        .unwrap_or_else(|e| e.into_inner())
                        .clone();
                    let verdict = auth.as_ref().map(|a| a.check(pkt.data)).unwrap_or(
                        if crate::wire::message::Packet::decode(pkt.data)
                            .is_ok_and(|d| d.packet.mac.is_some())
                        {
                            AuthVerdict::Failed
                        } else {
                            AuthVerdict::None
                        },
                    );
                    let untrusted_ok = access.flags(pkt.src) & super::access::RES_DONTTRUST == 0;
                    let symmetric_active = pkt.data[0] & 7 == 1;
                    match (verdict, auth) {
                        (AuthVerdict::Trusted(_), Some(_)) if symmetric_active => {
                            // an authenticated stranger asking to peer: the main loop
                            // mobilises a passive association (ntp.org's AM_NEWPASS)
                            handoff(Handoff {
                                data: pkt.data.to_vec(),
                                src: pkt.src,
                                rx,
                                local: pkt.local,
                                kind: HandoffKind::Association,
                                socket: self.socket_index,
                            });
                        }
                        (AuthVerdict::Trusted(id), Some(a)) => {
                            let lead = self.xleave.predict.lead(pkt.local, rx);
                            super::respond::stamp_transmit(&mut out, led(now_ntp(), lead));
                            if let Some(signed) = a.sign(id, &out) {
                                t.replied += 1;
                                self.send.push(&signed, pkt.src, pkt.local, false);
                            }
                        }
                        (AuthVerdict::None, _) if untrusted_ok => {
                            t.replied += 1;
                            self.send.push(&out, pkt.src, pkt.local, true);
                        }
                        (AuthVerdict::None, _) => t.restricted += 1,
                        _ => {
                            // undecodable trailers are a format problem, not a bad MAC
                            if crate::wire::message::Packet::decode(pkt.data).is_err() {
                                t.malformed += 1;
                            } else {
                                t.bad_auth += 1;
                            }
                        }
                    }
                }
                Outcome::Reply => {
                    t.replied += 1;
                    // our receive timestamps carry the mark interleaved clients echo
                    out[39] |= 1;
                    match shared.xleave.as_ref() {
                        Some(table) if super::xleave::wants_interleaved(pkt.data) => {
                            let lead = self.xleave.predict.lead(pkt.local, rx);
                            push_interleaved(
                                lead,
                                &mut self.send,
                                &mut self.xleave.batch,
                                table,
                                &mut out,
                                pkt.data,
                                pkt.src,
                                pkt.local,
                                &mut t,
                            );
                        }
                        _ => {
                            let plan = self.xleave.predict.plan(pkt.local, rx);
                            let i = self.send.push_predicted(
                                &out,
                                pkt.src,
                                pkt.local,
                                true,
                                plan.lead,
                                plan.probe.is_some(),
                            );
                            if let (Some(i), Some(t)) = (i, plan.probe) {
                                self.xleave.batch.push((i, Stamped::Target(t)));
                            }
                        }
                    }
                }
                Outcome::Kod => {
                    t.kod_sent += 1;
                    self.send.push(&out, pkt.src, pkt.local, false);
                }
                Outcome::Control | Outcome::Association => {
                    if outcome == Outcome::Control {
                        t.control += 1;
                    }
                    handoff(Handoff {
                        data: pkt.data.to_vec(),
                        src: pkt.src,
                        rx,
                        local: pkt.local,
                        kind: if outcome == Outcome::Control {
                            HandoffKind::Control
                        } else {
                            HandoffKind::Association
                        },
                        socket: self.socket_index,
                    })
                }
                Outcome::Drop(why) => match why {
                    DropReason::RateLimited => t.rate_limited += 1,
                    DropReason::Malformed => t.malformed += 1,
                    DropReason::Unsupported | DropReason::NoPeer => t.declined += 1,
                    _ => t.restricted += 1,
                },
            }
        }
        t.received = n as u64;
        t.add_to(&shared.counters);
        if !self.send.is_empty() {
            let _ = self.send.flush(fd);
            if !self.xleave.batch.is_empty() {
                self.after_flush(fd, shared);
            }
        }
        Ok(n)
    }
}

/// A transmit time read before signing, plus the send latency tx_predict.rs expects (the
/// signing itself is not counted: the time is read before it, and the MAC covers it).
fn led(now: NtpTimestamp, lead: u64) -> NtpTimestamp {
    NtpTimestamp(now.0.wrapping_add(lead))
}

fn nts_request(shared: &Shared, req: &[u8]) -> bool {
    shared.nts_server.is_some() && super::nts_server::is_nts_request(req)
}

/// The NTS answer (an authenticated reply or an NTSN kiss), stamped and sealed; None: drop.
fn serve_nts(shared: &Shared, req: &[u8], header: &[u8; HEADER_LEN], lead: u64) -> Option<Vec<u8>> {
    use super::nts_server::NtsAnswer;
    let nts = shared.nts_server.as_ref()?;
    match nts.answer(req, header, |h| {
        super::respond::stamp_transmit(h, led(now_ntp(), lead))
    }) {
        NtsAnswer::Reply(r) | NtsAnswer::Nak(r) => Some(r),
        NtsAnswer::Drop => None,
    }
}

/// A reply in `out` to a request asking for interleaved mode: answered with the kernel
/// transmit time of the reply carrying the request's origin when the table has it, and its
/// own transmit time asked of the kernel either way (`batch` notes which, for after_flush).
#[allow(clippy::too_many_arguments)]
fn push_interleaved(
    lead: u64,
    send: &mut SendBatch,
    batch: &mut Vec<(usize, Stamped)>,
    table: &super::xleave::ServerTable,
    out: &mut [u8; HEADER_LEN],
    req: &[u8],
    dst: SocketAddr,
    local: Option<LocalAddr>,
    t: &mut Tally,
) {
    let rx = u64::from_be_bytes(out[32..40].try_into().unwrap_or([0; 8]));
    let pushed = match table.take(super::xleave::origin(req)) {
        Some(prev_tx) => {
            t.interleaved += 1;
            out[24..32].copy_from_slice(&req[32..40]);
            out[40..48].copy_from_slice(&prev_tx.to_be_bytes());
            send.push_stamped(out, dst, local, false, true)
        }
        // a basic reply (the exchange's first): the predicted transmit time, as any
        None => send.push_predicted(out, dst, local, true, lead, true),
    };
    if let Some(i) = pushed {
        batch.push((i, Stamped::Xleave(rx)));
    }
}

/// How often a quiet worker looks at its error queue once symmetric associations exist.
pub const QUIET_LOOK_MS: u64 = 200;

/// The receive timeout a worker needs: none (sleep until a datagram comes) unless symmetric
/// packets' transmit stamps may be waiting in its error queue, which does not wake a
/// blocked receive.
fn receive_timeout(shared: &Shared) -> Option<std::time::Duration> {
    shared
        .symmetric_seen
        .load(Ordering::Relaxed)
        .then(|| std::time::Duration::from_millis(QUIET_LOOK_MS))
}

/// Ends a worker's blocked receive at shutdown: shut for reading, the socket's receive
/// returns at once (empty, which the round skips) and the worker sees `shared.stop`.
/// Linux answers ENOTCONN for an unconnected UDP socket but shuts it all the same.
pub fn wake_worker(sock: &UdpSocket) {
    let _ = socket2::SockRef::from(sock).shutdown(std::net::Shutdown::Read);
}

/// A worker thread serving one socket of an SO_REUSEPORT group until `shared.stop`.
/// An idle server's workers do not wake at all (chronyd's do not either): they block in
/// the receive until a datagram comes, the daemon stops ([`wake_worker`]), or, with
/// symmetric associations, the [`QUIET_LOOK_MS`] timeout.
pub fn spawn_worker(
    name: String,
    sock: Arc<UdpSocket>,
    shared: Arc<Shared>,
    mut round: Round,
    mut handoff: impl FnMut(Handoff) + Send + 'static,
) -> io::Result<std::thread::JoinHandle<()>> {
    let mut timeout = receive_timeout(&shared);
    sock.set_read_timeout(timeout)?;
    std::thread::Builder::new().name(name).spawn(move || {
        while !shared.stop.load(Ordering::Relaxed) {
            let wanted = receive_timeout(&shared);
            if wanted != timeout && sock.set_read_timeout(wanted).is_ok() {
                timeout = wanted;
            }
            match round.run_counted(sock.as_raw_fd(), &shared, true, &mut handoff) {
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) =>
                {
                    // a quiet socket still hands over the main loop's symmetric stamps
                    round.read_kernel_stamps(sock.as_raw_fd(), &shared);
                }
                Err(e) => {
                    super::log::error(&format!("server socket: {e}"));
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
            }
        }
    })
}

impl Round {
    /// [`Round::run`], also counting for `ntpq -c iostats` the receive calls, those that
    /// returned datagrams, and what the kernel took of the replies. Once per batch, not
    /// per packet: the counters are shared by every serving thread.
    pub fn run_counted(
        &mut self,
        fd: RawFd,
        shared: &Shared,
        wait: bool,
        handoff: &mut dyn FnMut(Handoff),
    ) -> io::Result<usize> {
        let r = self.run(fd, shared, wait, handoff);
        let c = &shared.counters;
        c.wakeups.fetch_add(1, Ordering::Relaxed);
        if r.is_ok() {
            c.good_wakeups.fetch_add(1, Ordering::Relaxed);
        }
        let (sent, refused) = self.send.take_totals();
        if sent > 0 {
            c.sent.fetch_add(sent, Ordering::Relaxed);
        }
        if refused > 0 {
            c.send_failed.fetch_add(refused, Ordering::Relaxed);
        }
        r
    }
}
