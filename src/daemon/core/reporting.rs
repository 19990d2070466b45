//! What the daemon shows: the status the server publishes, the mode 6 and `/metrics`
//! views, and the loopstats, peerstats and sysstats lines.

use super::*;

impl Core {
    /// Make the server answer with the engine's view of the system.
    pub(super) fn publish(&mut self) {
        let st = self.engine.system_status();
        let mut status = ServerStatus {
            leap: st.leap,
            stratum: st.stratum.clamp(1, 16),
            precision: st.precision,
            root_delay: st.root_delay,
            root_dispersion: st.root_dispersion,
            refid: st.refid,
            reference_time: st.reftime,
        };
        if !st.synchronized {
            status.leap = Leap::Unsync;
            status.stratum = 16;
        }
        if status != self.shared.status() {
            self.shared.set_status(status);
        }
        if st.synchronized && st.reftime != self.last_reftime {
            self.last_reftime = st.reftime;
            if let Some(f) = self.loopstats.as_mut() {
                let t = UnixTime::now();
                let line = stats::loopstats_line(
                    t,
                    st.offset,
                    st.frequency_ppm,
                    st.clk_jitter,
                    st.clk_wander,
                    st.tc,
                );
                if let Err(e) = f.append(t, &line) {
                    log::debug(&format!("loopstats: {e}"));
                }
            }
        }
    }

    pub(super) fn record_peerstats(&mut self, id: AssocId) {
        let Some(p) = self.engine.peer_status(id) else {
            return;
        };
        if self.last_rec.get(&id) == Some(&p.rec) {
            return;
        }
        self.last_rec.insert(id, p.rec);
        if self.peerstats.is_none() {
            return;
        }
        let word = self.peer_status_word(&p).encode();
        let addr = self
            .assocs
            .get(&id)
            .map(|i| i.addr.ip().to_string())
            .unwrap_or_default();
        let Some(f) = self.peerstats.as_mut() else {
            return;
        };
        let t = UnixTime::now();
        let line = stats::peerstats_line(t, &addr, word, p.offset, p.delay, p.dispersion, p.jitter);
        if let Err(e) = f.append(t, &line) {
            log::debug(&format!("peerstats: {e}"));
        }
    }

    pub(super) fn peer_status_word(&self, p: &crate::engine::PeerStatus) -> PeerStatus {
        let info = self.assocs.get(&p.id);
        let keyed = info.is_some_and(|i| i.key.is_some() || i.nts.is_some());
        let configured = info.is_some_and(|i| !i.ephemeral);
        PeerStatus {
            flags: if configured { peer_flags::CONFIG } else { 0 }
                | if p.reach != 0 { peer_flags::REACH } else { 0 }
                | if keyed { peer_flags::AUTHENABLE } else { 0 }
                | if info.is_some_and(|i| i.authentic) {
                    peer_flags::AUTHENTIC
                } else {
                    0
                },
            select: p.select,
            event_count: p.event_count,
            event: p.last_event,
        }
    }

    /// A snapshot for `/metrics`: the mode 6 view without the MRU rows (only their count
    /// is reported), and what mode 6 does not carry.
    pub fn metrics_view(&self) -> crate::daemon::metrics::MetricsView {
        let uncertainty = self
            .engine
            .associations()
            .into_iter()
            .filter_map(|id| Some((id.0, self.engine.peer_status(id)?.uncertainty?)))
            .collect();
        crate::daemon::metrics::MetricsView {
            view: self.view_with(false),
            steps: self.engine.system_status().steps.into(),
            uncertainty,
        }
    }

    /// A snapshot for mode 6.
    pub fn view(&self) -> DaemonView {
        self.view_with(true)
    }

    pub(super) fn view_with(&self, mru: bool) -> DaemonView {
        let now = now_ntp();
        let st = self.engine.system_status();
        let sys_peer = st.peer.and_then(|id| {
            let info = self.assocs.get(&id)?;
            let mode = match (info.symmetric, info.ephemeral) {
                (true, true) => 2,
                (true, false) => 1,
                _ => 3,
            };
            Some((id.0, info.addr, mode))
        });
        let discipline = Discipline {
            poll: st.tc,
            offset: st.offset,
            frequency_ppm: st.frequency_ppm,
            sys_jitter: st.sys_jitter,
            clk_jitter: st.clk_jitter,
            wander_ppm: st.clk_wander,
        };
        let (status, mut system) = view::system_from(
            &self.shared.status(),
            now,
            sys_peer,
            st.sync_source,
            (st.event_count, st.last_event),
            discipline,
        );
        system.mintc = st.mintc;
        system.tai = st.tai.unwrap_or(0);
        system.leapsec = st.leapsec;
        system.expire = st.expire;
        let server_port = self
            .sockets
            .first()
            .and_then(|s| s.local_addr().ok())
            .map_or(123, |a| a.port());
        let peers = self
            .engine
            .associations()
            .into_iter()
            .filter_map(|id| {
                let p = self.engine.peer_status(id)?;
                let info = self.assocs.get(&id)?;
                let source = view::Source {
                    addr: info.addr,
                    // as ntpd: the name belongs to the pool, its members show addresses
                    srchost: info.srchost.clone().filter(|_| info.pool.is_none()),
                    key: info.key,
                    nts_cookies: info
                        .nts
                        .and_then(|i| self.nts.get(i))
                        .map(|s| s.session.as_ref().map_or(0, |s| s.cookies())),
                };
                let mut vars = view::peer_vars(&p, &source, self.dstadr(info, server_port));
                vars.xleave = info
                    .xleave
                    .enabled
                    .then_some(info.xleave.interleaved_samples)
                    .or(info
                        .xleave
                        .sym
                        .enabled
                        .then_some(info.xleave.sym.interleaved_samples));
                Some(PeerView {
                    assoc_id: id.0,
                    status: self.peer_status_word(&p),
                    vars,
                })
            })
            .collect::<Vec<PeerView>>();
        let mut peers = peers;
        peers.extend(self.unresolved_rows());
        DaemonView {
            now,
            status,
            system,
            peers,
            mru: if mru {
                view::mru_rows(&self.shared)
            } else {
                Vec::new()
            },
            sysstats: crate::daemon::sysstats::SysStats::read(&self.shared.counters, self.elapsed)
                .with_monitor(&self.shared, now),
            setvars: self.settings.setvars.clone(),
            nts_server: match &self.shared.nts_server {
                Some(n) => n.counters.vars(),
                None => crate::daemon::nts_server::counters::NtsServerCounters::default().vars(),
            },
            nts_client: self.nts_counters,
        }
    }

    /// A row for each `pool` line and each name not resolved yet (NTPsec's `.POOL.` and
    /// `.DNS.` rows), so `ntpq -p` shows the configured names before DNS answers.
    pub(super) fn unresolved_rows(&self) -> Vec<PeerView> {
        self.pending
            .iter()
            .enumerate()
            .filter(|(_, p)| !p.name.is_empty())
            .filter_map(|(i, p)| {
                let id = view::UNRESOLVED_ID_BASE.checked_add(u16::try_from(i).ok()?)?;
                if self.assocs.contains_key(&crate::engine::AssocId(id)) {
                    return None;
                }
                Some(view::unresolved_peer(
                    id,
                    &p.name,
                    p.assoc.kind == AssociationKind::Pool,
                    p.assoc.family == Some(AddressFamily::V6),
                    p.assoc.minpoll,
                ))
            })
            .collect()
    }

    /// Where an association's packets arrive (`dstadr`, `dstport`): the local address of
    /// the route to it and the client socket's port (a reference clock: loopback, as ntpd).
    pub(super) fn dstadr(&self, info: &AssocInfo, server_port: u16) -> SocketAddr {
        // not looked up here: a mode 6 request must not cost a socket per association
        // (`learn_missing_local_addresses` retries those without a route)
        let ip = info.local.unwrap_or(if info.addr.is_ipv4() {
            IpAddr::from([0, 0, 0, 0])
        } else {
            IpAddr::from([0u16; 8])
        });
        let port = if is_refclock(info.addr) {
            server_port
        } else {
            self.client
                .as_ref()
                .and_then(|c| c.local_port(info.addr))
                .unwrap_or(server_port)
        };
        SocketAddr::new(ip, port)
    }

    /// The hourly sysstats line: the counters since the previous one.
    pub(super) fn record_sysstats(&mut self) {
        let Some((f, last)) = self.sysstats.as_mut() else {
            return;
        };
        let now = crate::daemon::sysstats::SysStats::read(&self.shared.counters, self.elapsed);
        let t = UnixTime::now();
        if let Err(e) = f.append(t, &stats::sysstats_line(t, &now, last)) {
            log::debug(&format!("sysstats: {e}"));
        }
        *last = now;
    }
}
