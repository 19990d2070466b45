//! Carrying out what the engine decides: requests sent (signed, sealed, interleaved), clock
//! commands applied, associations demobilised, events logged, and `-q`'s ending.

use super::*;

/// Which of our bound sockets (by local address) a symmetric packet to `peer` leaves from:
/// the one the peer's packets come in on (`rx`), when it is a port-123 socket of the
/// association's own local address or the family's wildcard (an SO_REUSEPORT group has
/// several: the serving round that reads this one's error queue then hands our packet's
/// kernel timestamp over before the peer's answer, see sym_txstamp); else the port-123
/// socket bound to that local address, else the family's port-123 wildcard. Never another
/// interface's address: Linux refuses to send from 127.0.0.1 to a LAN address (EINVAL).
fn symmetric_socket(
    bound: &[Option<SocketAddr>],
    local: Option<IpAddr>,
    peer: SocketAddr,
    rx: Option<usize>,
) -> Option<usize> {
    let fits = |i: usize, want: &dyn Fn(IpAddr) -> bool| {
        bound
            .get(i)
            .copied()
            .flatten()
            .is_some_and(|b| b.port() == 123 && b.is_ipv4() == peer.is_ipv4() && want(b.ip()))
    };
    let port_123 = |want: &dyn Fn(IpAddr) -> bool| (0..bound.len()).find(|&i| fits(i, want));
    let own = |ip: IpAddr| local == Some(ip) || ip.is_unspecified();
    rx.filter(|&i| fits(i, &own))
        .or_else(|| local.and_then(|l| port_123(&|ip| ip == l)))
        .or_else(|| port_123(&|ip| ip.is_unspecified()))
}

impl Core {
    /// When the engine wants to be woken, as a delay from now.
    pub fn engine_delay(&self) -> std::time::Duration {
        let secs = (self.engine.next_wakeup() - now_ntp()).to_seconds();
        std::time::Duration::from_secs_f64(secs.clamp(0.0, 3600.0))
    }

    pub fn engine_timer(&mut self) {
        let actions = self.engine.handle_timer(now_ntp());
        self.act(actions);
        self.drop_silent_ephemerals();
    }

    pub(super) fn act(&mut self, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Send { assoc, packet } => self.send_request(assoc, &packet.serialize()),
                Action::Clock(cmd) => {
                    if self.clock.observe_only {
                        self.engine.set_observe_only();
                        continue;
                    }
                    let result = apply_clock_command(&mut self.clock.clock, cmd);
                    // the engine books only what the clock did
                    self.engine.clock_result(&cmd, &result);
                    match result {
                        Ok(_) => {}
                        Err(ClockError::PermissionDenied) => {
                            log::warn("adjusting the system clock is not permitted (EPERM): observing only from now on");
                            self.clock = crate::daemon::chosen_clock::ChosenClock::observe();
                            self.engine.set_observe_only();
                        }
                        Err(e) => log::warn(&format!("clock adjustment failed: {e}")),
                    }
                }
                Action::Demobilize { assoc, reason } => {
                    // RFC 5905 §7.4: DENY/RSTR end the association; it goes from the
                    // engine and from mode 6 (ntpq no longer lists it)
                    if let Some(info) = self.forget(assoc) {
                        let ip = info.addr.ip();
                        log::notice(&format!(
                            "{ip}: kiss code {reason:?}: association demobilized"
                        ));
                        // a pool fills the place again, but not with the server that
                        // refused us: the next resolution would return it at once
                        if let Some(p) = info.pool.and_then(|i| self.pending.get_mut(i)) {
                            p.pool.dropped(ip, self.elapsed);
                            p.next_try = self.elapsed;
                        }
                    }
                }
                Action::Panic { offset } => {
                    log::error(&format!(
                        "time correction of {offset:+.0} s exceeds the sanity limit (1000); set clock manually to the correct UTC time (or start with -g)"
                    ));
                    self.exit = Some(1);
                }
                Action::Event(e) => self.event(e),
            }
        }
        self.publish();
    }

    pub(super) fn event(&mut self, e: EngineEvent) {
        match e {
            EngineEvent::System(s) => {
                let st = self.engine.system_status();
                match s {
                    SystemEvent::ClockSync => {
                        // ntpd's wording: the system peer and *its* stratum
                        let peer = st.peer.and_then(|id| {
                            let ip = self.assocs.get(&id)?.addr.ip();
                            Some((ip, self.engine.peer_status(id)?.stratum))
                        });
                        if let Some((ip, stratum)) = peer {
                            let name = match ip {
                                IpAddr::V4(a) if a.octets()[..3] == [127, 127, 1] => {
                                    format!("LOCAL({})", a.octets()[3])
                                }
                                _ => ip.to_string(),
                            };
                            log::notice(&format!("synchronized to {name}, stratum {stratum}"));
                        }
                        let first = !self
                            .clock_synced
                            .swap(true, std::sync::atomic::Ordering::Relaxed);
                        if first && self.nocerttimecheck == Some(true) {
                            log::notice(
                                "NTS: the clock is synchronised; certificate validity times are checked from now on",
                            );
                        }
                        self.frequency_known = true;
                    }
                    SystemEvent::ClockStep => {
                        log::notice(&format!("clock step {:+.6} s", st.offset))
                    }
                    SystemEvent::NoSysPeer if st.synchronized => {
                        log::notice("no system peer: holdover on the last frequency")
                    }
                    SystemEvent::NoSysPeer => log::notice(
                        "no system peer and the error bound passed maxdist: unsynchronised",
                    ),
                    other => log::info(&format!("system event {other:?}")),
                }
            }
            EngineEvent::Peer(id, ev) => {
                let who = self
                    .assocs
                    .get(&id)
                    .map(|i| i.addr.ip().to_string())
                    .unwrap_or_default();
                match ev {
                    PeerEvent::SysPeer
                    | PeerEvent::Reachable
                    | PeerEvent::Unreachable
                    | PeerEvent::RateExceeded => log::info(&format!("{who}: {ev:?}")),
                    _ => log::debug(&format!("{who}: {ev:?}")),
                }
            }
        }
    }

    /// Hand the kernel transmit times queued on the client socket of `dst`'s family to
    /// their associations.
    pub(super) fn take_kernel_tx(&mut self, dst: SocketAddr) {
        let Some(client) = &self.client else { return };
        for (id, cookie, at) in client.kernel_tx(dst) {
            if let Some(info) = self.assocs.get_mut(&AssocId(id)) {
                info.xleave.kernel_tx(cookie, at);
            }
        }
    }

    /// A symmetric association's latest packet: its kernel transmit timestamp, when the
    /// serving round has handed it over (see sym_txstamp).
    pub(super) fn take_sym_kernel_tx(&mut self, assoc: AssocId) {
        let Some(sym) = self.assocs.get_mut(&assoc).map(|i| &mut i.xleave.sym) else {
            return;
        };
        // the latest packet's and the one the next interleaved sample may pair with
        for key in sym.tx_keys().into_iter().flatten() {
            if let Some(at) = self.shared.sym_tx.stamp(key) {
                sym.kernel_transmitted(key, at);
            }
        }
    }

    pub(super) fn send_request(&mut self, assoc: AssocId, header: &[u8]) {
        self.note_client_fallback(assoc, header);
        // a symmetric peer's: our previous packet's kernel transmit time, for the transmit field
        self.take_sym_kernel_tx(assoc);
        let Some(info) = self.assocs.get(&assoc) else {
            return;
        };
        let Some(client) = &self.client else { return };
        let mut data = header.to_vec();
        let by_client_socket = !info.symmetric;
        if let Some(i) = self.assocs.get_mut(&assoc).filter(|i| i.symmetric) {
            i.xleave.sym.prepare(&mut data);
        }
        if by_client_socket && data.len() >= 48 {
            // interleaved: the origin and receive fields name the last exchange
            let cookie = NtpTimestamp::from_be_bytes(data[40..48].try_into().unwrap_or([0; 8]));
            if let Some(info) = self.assocs.get_mut(&assoc) {
                info.xleave.prepare(&mut data[..48], cookie);
            }
        }
        let Some(info) = self.assocs.get(&assoc) else {
            return;
        };
        if let Some(slot) = info.nts.and_then(|i| self.nts.get_mut(i)) {
            // no cookie, no request: an NTS association never sends in the clear
            let Some(sealed) = slot.session.as_mut().and_then(|s| s.seal(&data)) else {
                if slot.session.take().is_some() {
                    log::info(&format!(
                        "{}: out of NTS cookies: new key exchange with {}:{}",
                        info.addr, slot.name, slot.port
                    ));
                }
                return;
            };
            self.nts_counters.client_send += 1;
            data = sealed;
        }
        if let Some(k) = info.key {
            // over the header as sent: interleaved mode may have rewritten its fields
            match self.keys.sign(k, &data[..header.len().min(data.len())]) {
                Ok(mac) => data.extend_from_slice(&mac),
                Err(e) => log::debug(&format!("cannot sign for {}: {e}", info.addr)),
            }
        }
        let sent = if info.symmetric {
            // a symmetric peer knows us by address and port 123
            let bound: Vec<Option<SocketAddr>> =
                self.sockets.iter().map(|s| s.local_addr().ok()).collect();
            let rx = info.xleave.sym.rx_socket;
            let socket =
                symmetric_socket(&bound, info.local, info.addr, rx).map(|i| &self.sockets[i]);
            // in interleaved mode the kernel's transmit timestamp, under a key of ours (see
            // sym_txstamp); the time read just before the send until it comes
            let key = socket
                .filter(|_| info.xleave.sym.enabled)
                .and_then(|_| self.shared.sym_tx.next_key());
            let before = now_ntp();
            let sent = match (socket, key) {
                (Some(s), Some(k)) => {
                    match netio::send_one_keyed(s, &data, info.addr, None, k) {
                        Ok(before) => {
                            self.shared.sym_tx.sent(k, before);
                            Ok(Some((before, Some(k))))
                        }
                        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                            // a kernel before Linux 6.13 knows no SCM_TS_OPT_ID: from now
                            // on without a kernel timestamp (not the socket's counter: it
                            // is the serving round's)
                            log::info(&format!(
                                "no keyed kernel transmit timestamps ({e}): symmetric packets carry the time read before the send (peer {})",
                                info.addr
                            ));
                            self.shared.sym_tx.set_unsupported();
                            let before = now_ntp();
                            netio::send_one(s, &data, info.addr, None).map(|_| Some((before, None)))
                        }
                        Err(e) => Err(e),
                    }
                }
                (Some(s), None) => {
                    netio::send_one(s, &data, info.addr, None).map(|_| Some((before, None)))
                }
                (None, _) => client.send(&data, info.addr).map(|_| Some((before, None))),
            };
            if let (Ok(Some((before, key))), Some(i)) = (&sent, self.assocs.get_mut(&assoc)) {
                i.xleave.sym.transmitted(*before, *key);
            }
            sent.map(|_| ())
        } else {
            client.send_for(assoc.0, &data, info.addr).map(|before| {
                if let Some(sent) = self
                    .assocs
                    .get_mut(&assoc)
                    .and_then(|i| i.xleave.sent.as_mut())
                {
                    sent.before = before;
                }
            })
        };
        let addr = self.assocs.get(&assoc).map(|i| i.addr);
        // for veth and loopback the kernel's timestamp is there as soon as send returns
        if let Some(addr) = addr {
            self.take_kernel_tx(addr);
        }
        let Some(addr) = addr else { return };
        if let Some(info) = self.assocs.get_mut(&assoc) {
            match sent {
                // once per association: a route that keeps refusing would flood the log
                Err(e) if !info.send_failed => {
                    info.send_failed = true;
                    log::warn(&format!("{addr}: cannot send: {e}"));
                }
                Err(e) => log::debug(&format!("send to {addr}: {e}")),
                Ok(_) => info.send_failed = false,
            }
        }
    }

    /// Log when the engine starts or stops polling a `peer` in client mode.
    pub(super) fn note_client_fallback(&mut self, assoc: AssocId, header: &[u8]) {
        let Some(info) = self.assocs.get_mut(&assoc) else {
            return;
        };
        let client_mode = header.first().is_some_and(|b| b & 7 == 3);
        if !info.symmetric || client_mode == info.client_fallback {
            return;
        }
        info.client_fallback = client_mode;
        let addr = info.addr.ip();
        if client_mode {
            log::notice(&format!(
                "peer {addr} does not answer symmetric mode (NTPsec's `peer` is a client): polling it in client mode"
            ));
        } else {
            log::notice(&format!("peer {addr}: trying symmetric mode again"));
        }
    }

    /// `-q`: exit once synchronised.
    pub(super) fn finish_once(&mut self) {
        if self.once && self.engine.system_status().synchronized && self.exit.is_none() {
            let st = self.engine.system_status();
            // ntpd -q's two endings: stepped ("time set") or slewed. Observe-only forced by
            // EPERM did neither: say so, and fail (--observe-only asked for it, so that is a success)
            if self.clock.observe_only && !self.asked_observe_only {
                let text = format!(
                    "ntpd: time not set (not permitted: observe-only), offset {:+.6}s",
                    st.offset
                );
                println!("{text}");
                log::warn(&text);
                self.exit = Some(1);
                return;
            }
            let how = if st.steps > 0 { "set" } else { "slew" };
            println!("ntpd: time {how} {:+.6}s", st.offset);
            log::notice(&format!("ntpd: time {how} {:+.6}s", st.offset));
            self.exit = Some(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> Option<SocketAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn symmetric_packets_leave_from_the_association_s_own_address() {
        // `interface` rules often bind 127.0.0.1 first; a LAN peer must not get that one
        let bound = [
            sa("127.0.0.1:123"),
            sa("198.18.0.2:123"),
            sa("[::1]:123"),
            sa("198.18.0.2:40000"),
        ];
        let peer: SocketAddr = "198.18.0.1:123".parse().unwrap();
        let local = Some("198.18.0.2".parse().unwrap());
        assert_eq!(symmetric_socket(&bound, local, peer, None), Some(1));
        // a local address we hold no port-123 socket for: nothing fits, the caller uses its
        // client socket rather than 127.0.0.1
        let other = Some("198.18.1.2".parse().unwrap());
        assert_eq!(symmetric_socket(&bound, other, peer, None), None);
    }

    #[test]
    fn symmetric_packets_fall_back_to_the_family_s_wildcard() {
        let bound = [sa("127.0.0.1:123"), None, sa("[::]:123"), sa("0.0.0.0:123")];
        let peer: SocketAddr = "198.18.0.1:123".parse().unwrap();
        let local = Some("198.18.0.2".parse().unwrap());
        assert_eq!(symmetric_socket(&bound, local, peer, None), Some(3));
        assert_eq!(symmetric_socket(&bound, None, peer, None), Some(3));
        let v6: SocketAddr = "[fd00::1]:123".parse().unwrap();
        assert_eq!(symmetric_socket(&bound, None, v6, None), Some(2));
    }

    #[test]
    fn symmetric_packets_leave_from_the_socket_the_peer_s_packets_come_in_on() {
        // an SO_REUSEPORT group: two wildcard sockets per family, the peer's packets
        // hashed to the second
        let bound = [
            sa("0.0.0.0:123"),
            sa("0.0.0.0:123"),
            sa("[::]:123"),
            sa("127.0.0.1:123"),
            sa("0.0.0.0:40000"),
        ];
        let peer: SocketAddr = "198.18.0.1:123".parse().unwrap();
        let local = Some("198.18.0.2".parse().unwrap());
        assert_eq!(symmetric_socket(&bound, local, peer, Some(1)), Some(1));
        assert_eq!(symmetric_socket(&bound, None, peer, Some(1)), Some(1));
        // never one of another family, another address, another port or none at all
        for rx in [2, 3, 4, 9] {
            assert_eq!(
                symmetric_socket(&bound, local, peer, Some(rx)),
                Some(0),
                "{rx}"
            );
        }
    }
}
