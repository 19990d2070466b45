//! Association set-up: the configured lines, names as they resolve, pool members (and
//! dropping the unreachable ones), ephemeral passive associations, local addresses learnt late.

use super::*;

impl Core {
    pub(super) fn mobilize_configured(&mut self) {
        let now = now_ntp();
        for a in self.settings.config.associations.clone() {
            match &a.target {
                Target::Refclock { .. } if a.is_local_clock() => {
                    let mut s = SourceConfig::local_clock(a.refclock_stratum().unwrap_or(5));
                    if let SourceKind::LocalClock { refid, .. } = &mut s.kind {
                        *refid =
                            RefId::from_ascii(&a.refclock_refid().unwrap_or_else(|| "LOCL".into()));
                    }
                    s.prefer = a.prefer;
                    s.noselect = a.noselect;
                    let id = self.engine.add_source(s, now);
                    let addr = SocketAddr::new(IpAddr::from([127, 127, 1, 0]), 123);
                    self.assocs.insert(
                        id,
                        AssocInfo {
                            addr,
                            symmetric: false,
                            client_fallback: false,
                            ephemeral: false,
                            key: None,
                            // NTPsec sends a clock's name; its ntpq shows it and type `l`
                            srchost: match a.target {
                                Target::Refclock { unit, .. } => Some(format!("LOCAL({unit})")),
                                _ => None,
                            },
                            authentic: false,
                            local: Some(IpAddr::from([127, 0, 0, 1])),
                            pool: None,
                            send_failed: false,
                            nts: None,
                            xleave: Default::default(),
                        },
                    );
                }
                Target::Refclock { .. } => {}
                Target::Address(ip) if a.nts.is_some() && a.kind != AssociationKind::Pool => {
                    self.add_nts_slot(&a, ip.to_string(), None, None)
                }
                Target::Name(name) if a.nts.is_some() && a.kind != AssociationKind::Pool => {
                    self.add_nts_slot(&a, name.clone(), None, None)
                }
                Target::Address(ip) => self.add_server(&a, *ip, None, now),
                Target::Name(name) => self.pending.push(PendingName {
                    name: name.clone(),
                    assoc: a.clone(),
                    attempts: 0,
                    next_try: 0,
                    in_flight: false,
                    pool: Default::default(),
                }),
            }
        }
    }

    pub(super) fn add_server(
        &mut self,
        a: &Association,
        ip: IpAddr,
        srchost: Option<String>,
        now: NtpTimestamp,
    ) {
        if self.by_addr.contains_key(&ip) {
            return;
        }
        if let Some(k) = a.key {
            if self.keys.get(k).is_none() {
                log::warn(&format!(
                    "{}: key {k} is not in the keys file; requests go unauthenticated",
                    a.location
                ));
            }
        }
        // `restrict source`: the association's address gets the source flags
        self.edit_source_restrictions(|r| r.add_source(ip));
        let source = crate::daemon::config_bridge::source_config(a, ip);
        let symmetric = source.is_symmetric();
        let id = self.engine.add_source(source, now);
        // our address toward it: `dstadr`, and the refid it shows when synchronised to us
        let local = client::local_address_for(SocketAddr::new(ip, 123));
        if let Some(local) = local {
            self.engine.set_local_address(id, local);
        }
        if symmetric {
            self.shared.add_symmetric_peer(ip);
        }
        log::info(&format!(
            "{} {} for {ip}{}",
            if symmetric {
                "symmetric active association"
            } else {
                "association"
            },
            id.0,
            srchost
                .as_deref()
                .map(|h| format!(" ({h})"))
                .unwrap_or_default()
        ));
        self.assocs.insert(
            id,
            AssocInfo {
                addr: SocketAddr::new(ip, 123),
                symmetric,
                client_fallback: false,
                ephemeral: false,
                key: a.key.filter(|k| self.keys.get(*k).is_some()),
                srchost,
                authentic: false,
                local,
                pool: None,
                send_failed: false,
                nts: None,
                xleave: crate::daemon::xleave::ClientState {
                    enabled: a.xleave && !symmetric,
                    sym: super::super::xleave_sym::SymState::new(a.xleave && symmetric),
                    ..Default::default()
                },
            },
        );
        self.by_addr.insert(ip, id);
    }

    /// Names due for (another) resolution attempt: (index, name, v4, v6).
    pub fn due_names(&mut self) -> Vec<(usize, String, bool, bool)> {
        let mut out = Vec::new();
        for (i, p) in self.pending.iter_mut().enumerate() {
            if !p.in_flight && p.next_try <= self.elapsed {
                p.in_flight = true;
                let (v4, v6) = match p.assoc.family {
                    Some(AddressFamily::V4) => (true, false),
                    Some(AddressFamily::V6) => (false, true),
                    None => self.families,
                };
                out.push((
                    i,
                    p.name.clone(),
                    v4 && self.families.0,
                    v6 && self.families.1,
                ));
            }
        }
        out
    }

    pub fn resolved(&mut self, r: Resolved) {
        let Some(p) = self.pending.get_mut(r.index) else {
            return;
        };
        p.in_flight = false;
        match r.result {
            Ok(addrs) if p.assoc.kind == AssociationKind::Pool => self.fill_pool(r.index, &addrs),
            Ok(addrs) => {
                let name = p.name.clone();
                let a = p.assoc.clone();
                // an empty name marks the entry as done (indices stay valid)
                p.name.clear();
                p.next_try = u64::MAX;
                if let Some(&ip) = addrs.first() {
                    self.add_server(&a, ip, Some(name), now_ntp());
                }
            }
            Err(e) => {
                p.attempts += 1;
                let delay = client::retry_delay(p.attempts);
                p.next_try = self.elapsed + delay;
                log::warn(&format!(
                    "{}: cannot resolve {} ({e}); retrying in {delay} s",
                    p.assoc.location, p.name
                ));
            }
        }
    }

    /// Mobilise pool members from a fresh resolution of pool line `index`, up to `tos
    /// maxclock` associations in all. While there is room left, the name is asked again
    /// later (with the resolver's back-off); when full, only a dropped member wakes it.
    pub(super) fn fill_pool(&mut self, index: usize, addrs: &[IpAddr]) {
        let maxclock = self.settings.config.tos.maxclock as usize;
        // pool members still in their key exchange count as taken places
        let in_ke = self
            .nts
            .iter()
            .filter(|s| s.id.is_none() && s.pool.is_some() && s.next_try != u64::MAX)
            .count();
        let room = maxclock.saturating_sub(self.engine.associations().len() + in_ke);
        let Some(p) = self.pending.get_mut(index) else {
            return;
        };
        let by_addr = &self.by_addr;
        let nts_slots = &self.nts;
        // a member waiting for its key exchange is not in the engine yet, but taken
        let taken =
            |a: IpAddr| by_addr.contains_key(&a) || nts_slots.iter().any(|s| s.connect == Some(a));
        let picked = p.pool.pick(addrs, taken, room, self.elapsed);
        let (assoc, name) = (p.assoc.clone(), p.name.clone());
        if picked.len() < room {
            p.attempts = if picked.is_empty() { p.attempts + 1 } else { 0 };
            p.next_try = self.elapsed + client::retry_delay(p.attempts);
        } else {
            p.attempts = 0;
            p.next_try = u64::MAX;
        }
        let now = now_ntp();
        for ip in picked {
            if assoc.nts.is_some() {
                self.add_nts_slot(&assoc, name.clone(), Some(ip), Some(index));
                continue;
            }
            self.add_server(&assoc, ip, Some(name.clone()), now);
            if let Some(info) = self.by_addr.get(&ip).and_then(|id| self.assocs.get_mut(id)) {
                info.pool = Some(index);
            }
        }
    }

    /// Demobilise pool members that stopped answering and have their pool resolved again.
    pub(super) fn drop_unreachable_pool_members(&mut self) {
        let dead: Vec<(AssocId, usize)> = self
            .assocs
            .iter()
            .filter_map(|(&id, info)| {
                let pool = info.pool?;
                let p = self.engine.peer_status(id)?;
                crate::daemon::pool::is_unreachable(p.reach, p.unreach).then_some((id, pool))
            })
            .collect();
        for (id, pool) in dead {
            let Some(info) = self.forget(id) else {
                continue;
            };
            let ip = info.addr.ip();
            log::notice(&format!(
                "{ip}: pool server unreachable for {} polls: association {} demobilized",
                crate::daemon::pool::UNREACH_POLLS,
                id.0
            ));
            if let Some(p) = self.pending.get_mut(pool) {
                p.pool.dropped(ip, self.elapsed);
                p.attempts = 0;
                p.next_try = self.elapsed;
            }
        }
    }

    /// An authenticated mode 1 from a host without an association: mobilise a symmetric
    /// passive association for it (ntp.org's AM_NEWPASS; `nopeer` only concerns
    /// unauthenticated packets, `noepeer` refuses even authenticated ones). The fast path
    /// hands over only packets whose MAC a trusted key verified; the check is repeated here.
    pub(super) fn mobilize_passive(&mut self, r: &Reply) -> Option<AssocId> {
        if r.data.first().map(|b| b & 7) != Some(1) {
            return None;
        }
        if self.shared.access().flags(r.src) & crate::daemon::access::RES_NOEPEER != 0 {
            // ntp.org counts it as declined (sys_declined)
            self.shared
                .counters
                .declined
                .fetch_add(1, Ordering::Relaxed);
            log::debug(&format!(
                "{}: mode 1 declined: noepeer (no ephemeral associations)",
                r.src
            ));
            return None;
        }
        let (_, key) = self.trusted_mac(&r.data)?;
        let ephemerals = self.assocs.values().filter(|i| i.ephemeral).count();
        if ephemerals >= MAX_EPHEMERAL {
            log::debug(&format!(
                "{}: no room for another passive association",
                r.src
            ));
            return None;
        }
        let header = crate::wire::packet::Header::parse(&r.data).ok()?;
        let ip = r.src.ip();
        let id = self
            .engine
            .add_source(SourceConfig::passive_peer(ip, header.poll), now_ntp());
        let local = client::local_address_for(SocketAddr::new(ip, 123));
        if let Some(local) = local {
            self.engine.set_local_address(id, local);
        }
        self.shared.add_symmetric_peer(ip);
        log::notice(&format!(
            "symmetric passive association {} for {ip} (mode 1 with trusted key {key})",
            id.0
        ));
        self.assocs.insert(
            id,
            AssocInfo {
                addr: SocketAddr::new(ip, 123),
                symmetric: true,
                client_fallback: false,
                ephemeral: true,
                key: Some(key),
                srchost: None,
                authentic: false,
                local,
                pool: None,
                send_failed: false,
                nts: None,
                xleave: Default::default(),
            },
        );
        self.by_addr.insert(ip, id);
        Some(id)
    }

    /// Ephemeral associations whose peer went silent are demobilised (ntpd: after
    /// NTP_UNREACH unanswered polls).
    pub(super) fn drop_silent_ephemerals(&mut self) {
        let silent: Vec<AssocId> = self
            .assocs
            .iter()
            .filter(|(_, i)| i.ephemeral)
            .filter(|(id, _)| {
                self.engine
                    .peer_status(**id)
                    .is_some_and(|p| p.unreach >= EPHEMERAL_UNREACH)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in silent {
            if let Some(info) = self.forget(id) {
                let ip = info.addr.ip();
                log::notice(&format!("{ip}: passive association {} timed out", id.0));
            }
        }
    }

    /// Associations mobilised while there was no route to them learn their local address
    /// (`dstadr`, the loop test's refid) once one appears.
    pub(super) fn learn_missing_local_addresses(&mut self) {
        for (id, info) in self.assocs.iter_mut() {
            if info.local.is_some() || is_refclock(info.addr) {
                continue;
            }
            info.local = client::local_address_for(info.addr);
            if let Some(local) = info.local {
                self.engine.set_local_address(*id, local);
            }
        }
    }
}
