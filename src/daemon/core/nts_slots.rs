//! NTS associations before and between sessions: their slots, the key exchanges due, and
//! what a finished exchange starts (or backs off).

use super::*;

impl Core {
    /// Make the NTS slot of a `server … nts` line (or of one pool member). A TLS setup
    /// that cannot be had (unreadable `ca` file, empty system store) refuses the
    /// association with an error naming the line: it never runs unauthenticated.
    pub(super) fn add_nts_slot(
        &mut self,
        a: &Association,
        name: String,
        connect: Option<IpAddr>,
        pool: Option<usize>,
    ) {
        let Some(opts) = a.nts.clone() else { return };
        // NTPsec's `nts ca FILE` is the trust anchor of every `server … nts` without its own
        let ca = opts
            .ca
            .as_deref()
            .or(self.settings.config.nts.ca.as_deref());
        let configured = self.settings.config.nts.nocerttimecheck;
        let skip_time = *self.nocerttimecheck.get_or_insert_with(|| {
            let (on, why) = crate::daemon::nts_ke::nocerttimecheck(
                configured,
                crate::daemon::nts_ke::RTC_DEVICES,
            );
            log::notice(&if on {
                format!(
                    "NTS: certificate validity times not checked until the clock is first \
                     synchronised ({why}); chain and name always are"
                )
            } else {
                format!("NTS: certificate validity times checked ({why})")
            });
            on
        });
        let skip_time = skip_time.then(|| self.clock_synced.clone());
        let tls = match crate::daemon::nts_ke::tls_config(ca, opts.noval, skip_time) {
            Ok(t) => t,
            Err(e) => {
                log::error(&format!(
                    "{}: NTS association {name} not started: {e}",
                    a.location
                ));
                return;
            }
        };
        if opts.noval {
            log::warn(&format!(
                "{}: noval: the certificate of {name} is not verified; anyone on the path can pose as it",
                a.location
            ));
        }
        let aead = match opts.aead {
            Some(one) => vec![one],
            None => crate::wire::nts::aead::Aead::ALL.to_vec(),
        };
        self.nts.push(NtsSlot {
            assoc: a.clone(),
            name,
            connect,
            port: opts.port.unwrap_or(crate::wire::nts::KE_PORT),
            tls,
            aead,
            pool,
            id: None,
            session: None,
            attempts: 0,
            next_try: 0,
            in_flight: false,
            bad_logged: false,
        });
    }

    /// NTS key exchanges due: associations with no session (new, out of cookies, or
    /// told NTSN) whose back-off has passed.
    pub fn due_key_exchanges(&mut self) -> Vec<(usize, crate::daemon::nts_ke::KeJob)> {
        let mut out = Vec::new();
        for (i, s) in self.nts.iter_mut().enumerate() {
            if s.session.is_none() && !s.in_flight && s.next_try <= self.elapsed {
                s.in_flight = true;
                out.push((
                    i,
                    crate::daemon::nts_ke::KeJob {
                        name: s.name.clone(),
                        connect: s.connect,
                        port: s.port,
                        tls: s.tls.clone(),
                        aead: s.aead.clone(),
                    },
                ));
            }
        }
        out
    }

    /// A key exchange finished: start (or resume) the association, or back off.
    pub fn key_exchange_done(&mut self, done: KeDone) {
        let elapsed = self.elapsed;
        let Some(slot) = self.nts.get_mut(done.slot) else {
            return;
        };
        slot.in_flight = false;
        let target = match slot.connect {
            // a pool member: the pool's name and the member's address
            Some(ip) if slot.name != ip.to_string() => {
                format!("{}:{} at {ip}", slot.name, slot.port)
            }
            _ => format!("{}:{}", slot.name, slot.port),
        };
        let outcome = match done.result {
            Ok(o) => o,
            Err(e) => {
                self.nts_counters.ke_probes_bad += 1;
                slot.attempts += 1;
                // a pool member that keeps failing gives its place to another address
                if let (Some(pool), Some(ip)) = (slot.pool, slot.connect) {
                    if slot.attempts >= POOL_KE_ATTEMPTS {
                        slot.connect = None;
                        slot.next_try = u64::MAX;
                        log::warn(&format!(
                            "NTS-KE with {target} failed: {e}; pool member {ip} dropped after {POOL_KE_ATTEMPTS} attempts"
                        ));
                        if let Some(p) = self.pending.get_mut(pool) {
                            p.pool.dropped(ip, elapsed);
                            p.attempts = 0;
                            p.next_try = elapsed;
                        }
                        return;
                    }
                }
                let delay = client::retry_delay(slot.attempts);
                slot.next_try = elapsed + delay;
                log::warn(&format!(
                    "NTS-KE with {target} failed: {e}; retrying in {delay} s"
                ));
                return;
            }
        };
        self.nts_counters.ke_probes_good += 1;
        slot.attempts = 0;
        log::info(&format!(
            "NTS-KE with {target}: {} cookies, {}, NTP server {}",
            outcome.cookies.len(),
            outcome.keys.c2s.aead(),
            outcome.ntp_addr
        ));
        let ntp_addr = outcome.ntp_addr;
        slot.session = Some(crate::daemon::nts_client::NtsSession::new(outcome));
        if let Some(id) = slot.id {
            if let Some(info) = self.assocs.get(&id) {
                if info.addr != ntp_addr {
                    // the association keeps its address: moving it would mix two
                    // servers' samples in one filter
                    log::warn(&format!(
                        "NTS-KE with {target} now names NTP server {ntp_addr}, not {}; keeping {}",
                        info.addr, info.addr
                    ));
                }
            }
            return;
        }
        let (assoc, name, pool) = (slot.assoc.clone(), slot.name.clone(), slot.pool);
        let ip = ntp_addr.ip();
        if self.by_addr.contains_key(&ip) {
            log::warn(&format!(
                "NTS-KE with {target} names NTP server {ntp_addr}, which already has an association; not started"
            ));
            self.nts[done.slot].session = None;
            self.nts[done.slot].next_try = u64::MAX;
            return;
        }
        let srchost = (name != ip.to_string()).then_some(name);
        self.add_server(&assoc, ip, srchost, now_ntp());
        if let Some(&id) = self.by_addr.get(&ip) {
            if let Some(info) = self.assocs.get_mut(&id) {
                info.addr = ntp_addr;
                info.nts = Some(done.slot);
                info.pool = pool;
            }
            self.nts[done.slot].id = Some(id);
        }
    }
}
