//! Packets in: replies on the client sockets and the packets the fast path hands over,
//! checked (NTS, MAC) and given to the engine with their timestamps.

use super::*;

impl Core {
    /// A datagram on a client socket.
    pub fn client_reply(&mut self, r: Reply) {
        // as in ntpd, `ignore` drops everything from a source, replies to our polls too
        if self.shared.access().flags(r.src) & crate::daemon::access::RES_IGNORE != 0 {
            log::debug(&format!("reply from {} ignored by restrict", r.src));
            return;
        }
        let id = match self.by_addr.get(&r.src.ip()) {
            Some(&id) => id,
            None => match self.mobilize_passive(&r) {
                Some(id) => id,
                None => return,
            },
        };
        let nts_slot = self.assocs.get(&id).and_then(|i| i.nts);
        let header = match nts_slot {
            Some(slot) => match self.check_nts_reply(id, slot, &r) {
                Some(h) => h,
                None => return,
            },
            None => match self.check_plain_reply(id, &r) {
                Some(h) => h,
                None => return,
            },
        };
        let actions = self.take_reply(id, &header, &r);
        let Some(info) = self.assocs.get(&id) else {
            return;
        };
        if let Some(f) = self.rawstats.as_mut().filter(|_| !info.xleave.no_rawstats) {
            let t = UnixTime::now();
            let dst = info.local.map(|a| a.to_string()).unwrap_or_default();
            // the timestamps the sample was computed from (kernel T1, interleaved T3)
            let (mut logged, mut dst_ts) = (header, r.rx);
            if let Some(x) = info.xleave.last_sample {
                (logged.origin_ts, logged.receive_ts) = (x.t1, x.t2);
                (logged.transmit_ts, dst_ts) = (x.t3, x.t4);
            }
            let line = stats::rawstats_line(
                t,
                &stats::RawSample {
                    src: &r.src.ip().to_string(),
                    dst: &dst,
                    header: &logged,
                    dst_ts,
                },
            );
            if let Err(e) = f.append(t, &line) {
                log::debug(&format!("rawstats: {e}"));
            }
        }
        self.act(actions);
        self.record_peerstats(id);
        self.finish_once();
    }

    /// The reply of an NTS association: the header if it authenticates against the
    /// request in flight; anything else is dropped and counted (and logged once).
    pub(super) fn check_nts_reply(
        &mut self,
        id: AssocId,
        slot: usize,
        r: &Reply,
    ) -> Option<crate::wire::packet::Header> {
        use crate::daemon::nts_client::ReplyCheck;
        let s = self.nts.get_mut(slot)?;
        let verdict = match s.session.as_mut() {
            Some(session) => session.check(&r.data),
            None => ReplyCheck::Bad("no NTS session (key exchange pending)".into()),
        };
        match verdict {
            ReplyCheck::Good => {
                let header = crate::wire::packet::Header::parse(&r.data).ok()?;
                self.nts_counters.client_recv_good += 1;
                s.bad_logged = false;
                if let Some(info) = self.assocs.get_mut(&id) {
                    info.authentic = true;
                }
                Some(header)
            }
            ReplyCheck::Nak => {
                self.nts_counters.client_recv_bad += 1;
                log::notice(&format!(
                    "{}: NTSN kiss (the server cannot read our cookie): new key exchange with {}:{}",
                    r.src, s.name, s.port
                ));
                s.session = None;
                None
            }
            ReplyCheck::Bad(why) => {
                self.nts_counters.client_recv_bad += 1;
                if s.bad_logged {
                    log::debug(&format!("{}: NTS reply dropped: {why}", r.src));
                } else {
                    s.bad_logged = true;
                    log::warn(&format!(
                        "{}: reply fails NTS authentication ({why}); dropped (further ones logged at debug level until a good one)",
                        r.src
                    ));
                }
                None
            }
        }
    }

    /// The reply of a plain or symmetric-key association: the header if its MAC (when
    /// the association has a key) verifies.
    pub(super) fn check_plain_reply(
        &mut self,
        id: AssocId,
        r: &Reply,
    ) -> Option<crate::wire::packet::Header> {
        let decoded = Packet::decode(&r.data).ok()?;
        let info = self.assocs.get_mut(&id)?;
        if let Some(k) = info.key {
            let ok = decoded.packet.mac.as_ref().is_some_and(|m| {
                m.key_id == k
                    && self
                        .keys
                        .verify_digest(k, &r.data[..decoded.mac_offset], &m.digest)
                        .is_ok()
            });
            info.authentic = ok;
            if !ok {
                log::info(&format!(
                    "{}: reply fails authentication with key {k}; ignored",
                    r.src
                ));
                return None;
            }
        }
        Some(decoded.packet.header)
    }

    /// A server's reply to the engine, with the exchange's kernel timestamps, or the previous
    /// exchange's in interleaved mode (the header's origin is then the receive timestamp we
    /// sent, so it is put back to our request's for the engine's checks).
    pub(super) fn take_reply(
        &mut self,
        id: AssocId,
        header: &crate::wire::packet::Header,
        r: &Reply,
    ) -> Vec<Action> {
        use crate::daemon::xleave::Taken;
        let symmetric = self.assocs.get(&id).is_none_or(|i| i.symmetric);
        if symmetric {
            return self.take_symmetric(id, header, r);
        }
        if header.mode != crate::wire::packet::Mode::Server {
            return self.engine.handle_packet(id, header, r.rx);
        }
        self.take_kernel_tx(r.src);
        let Some(info) = self.assocs.get_mut(&id) else {
            return Vec::new();
        };
        let cookie = info.xleave.sent.map(|s| s.cookie);
        match info.xleave.take(
            header.origin_ts,
            header.receive_ts,
            header.transmit_ts,
            r.rx,
        ) {
            Taken::Basic(x) => self
                .engine
                .handle_packet_exchange(id, header, r.rx, Some(x)),
            Taken::Interleaved(x) => {
                let mut h = *header;
                h.origin_ts = cookie.unwrap_or(h.origin_ts);
                self.engine.handle_packet_exchange(id, &h, r.rx, Some(x))
            }
            Taken::Neither => self.engine.handle_packet(id, header, r.rx),
        }
    }

    /// A symmetric peer's packet to the engine; in interleaved mode with the exchange it
    /// completes (the origin put back to our packet's for the engine's checks).
    fn take_symmetric(
        &mut self,
        id: AssocId,
        header: &crate::wire::packet::Header,
        r: &Reply,
    ) -> Vec<Action> {
        use super::super::xleave_sym::SymTaken;
        // the shorter of the two polls, as the pair polls at it
        let poll = self
            .engine
            .peer_status(id)
            .map_or(8.0, |p| 2f64.powi(p.hpoll.min(p.ppoll).max(0) as i32));
        self.take_sym_kernel_tx(id);
        let Some(info) = self.assocs.get_mut(&id) else {
            return Vec::new();
        };
        let taken = info.xleave.sym.take(
            header.origin_ts,
            header.receive_ts,
            header.transmit_ts,
            r.rx,
            poll,
        );
        // rawstats logs what the sample was computed from (kernel times, interleaved T1/T3)
        info.xleave.last_sample = match taken {
            SymTaken::Answer { exchange, .. } => Some(exchange),
            _ => None,
        };
        info.xleave.no_rawstats = info.xleave.sym.enabled && info.xleave.last_sample.is_none();
        match taken {
            SymTaken::Answer {
                cookie, exchange, ..
            } => {
                let mut h = *header;
                h.origin_ts = cookie;
                self.engine
                    .handle_packet_exchange(id, &h, r.rx, Some(exchange))
            }
            SymTaken::NoSample => {
                let mut h = *header;
                h.origin_ts = NtpTimestamp::default();
                self.engine.handle_packet(id, &h, r.rx)
            }
            SymTaken::AsIs => self.engine.handle_packet(id, header, r.rx),
        }
    }

    /// A trusted mode 1 from an address we poll as a *server*: not a sample for that
    /// association (it takes mode 4 only) but a request like a stranger's, answered with a
    /// stateless mode 2 signed with its key (the fast path already applied the
    /// restrictions and the monitor). `None` for anything else.
    pub(super) fn mode1_to_a_server_association(&self, h: &Handoff) -> Option<Vec<u8>> {
        if h.data.first().map(|b| b & 7) != Some(1) {
            return None;
        }
        let id = self.by_addr.get(&h.src.ip())?;
        if self.assocs.get(id)?.symmetric {
            return None;
        }
        let (auth, key) = self.trusted_mac(&h.data)?;
        let mut out = [0u8; crate::wire::packet::HEADER_LEN];
        let outcome = crate::daemon::respond::respond(
            &h.data,
            h.src,
            h.rx,
            &crate::daemon::access::AllowAll,
            None,
            &self.shared.status(),
            &mut out,
        );
        if outcome != crate::daemon::respond::Outcome::Reply {
            return None;
        }
        crate::daemon::respond::stamp_transmit(&mut out, now_ntp());
        auth.sign(key, &out)
    }

    /// A packet the fast path handed over.
    pub fn handoff(&mut self, h: Handoff) {
        match h.kind {
            HandoffKind::Control => {
                let flags = RestrictFlags(self.shared.access().flags(h.src));
                let view = self.view();
                let replies = self.responder.respond(&h.data, h.src, &view, flags);
                if let Some(sock) = self.sockets.get(h.socket) {
                    for r in replies {
                        if let Err(e) = netio::send_one(sock, &r, h.src, h.local) {
                            log::debug(&format!("mode 6 reply to {}: {e}", h.src));
                        }
                    }
                }
            }
            HandoffKind::Association => {
                if let Some(signed) = self.mode1_to_a_server_association(&h) {
                    if let Some(sock) = self.sockets.get(h.socket) {
                        if let Err(e) = netio::send_one(sock, &signed, h.src, h.local) {
                            log::debug(&format!("mode 2 reply to {}: {e}", h.src));
                        }
                    }
                    return;
                }
                // our symmetric packets to this peer leave from the socket its come in on
                if let Some(info) = self
                    .by_addr
                    .get(&h.src.ip())
                    .and_then(|id| self.assocs.get_mut(id))
                    .filter(|i| i.symmetric)
                {
                    info.xleave.sym.rx_socket = Some(h.socket);
                }
                // A server reply that reached port 123, or a symmetric peer's packet: the
                // association's business, as a reply on the client socket would be.
                self.client_reply(Reply {
                    data: h.data,
                    src: h.src,
                    rx: h.rx,
                });
            }
        }
    }
}
