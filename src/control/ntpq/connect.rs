//! Opening a host: resolving it, the request signer, and finding out whether it speaks
//! mode 6 or chronyd's cmdmon; host names for the addresses a daemon reports.

use super::{Backend, CommandError, Connection, Protocol, Session};
use crate::control::auth_glue::SignerError;
use crate::control::chronyd;
use crate::control::client::{Client, Signer};
use crate::control::cmdmon::{self, Endpoint};
use crate::control::peers;
use std::net::IpAddr;
use std::time::Duration;

/// Where chronyd listens for a host: its Unix socket for this machine when there is one
/// (it allows every request there), then UDP port 323.
fn chronyd_endpoints(addr: std::net::SocketAddr, port: u16) -> Vec<Endpoint> {
    let mut v = Vec::new();
    let sock = std::path::Path::new(crate::wire::cmdmon::DEFAULT_SOCKET);
    if addr.ip().is_loopback() && sock.exists() {
        v.push(Endpoint::Unix(sock.to_path_buf()));
    }
    v.push(Endpoint::Udp(std::net::SocketAddr::new(addr.ip(), port)));
    v
}

/// The first endpoint we can open a socket for (binding a Unix socket needs write access
/// to chronyd's directory).
fn connect_chronyd(endpoints: Vec<Endpoint>, timeout: Duration) -> cmdmon::Result<cmdmon::Client> {
    let mut last = None;
    for e in endpoints {
        match cmdmon::Client::connect(e, timeout) {
            Ok(c) => return Ok(c),
            Err(e) => last = Some(e),
        }
    }
    Err(last.expect("at least one endpoint"))
}

/// Turn an address into a host name (`getnameinfo`, numeric when there is none).
fn reverse_lookup(addr: IpAddr) -> String {
    crate::sys::socket::host_name(addr).unwrap_or_else(|| addr.to_string())
}

impl Session<'_> {
    /// Open `host`; false (after a message) when it cannot be resolved or signed for.
    pub fn open_host(&mut self, host: &str) -> bool {
        // with --socket the mode 6 client is never used: no name to resolve for it
        let mode6 = match &self.opts.socket {
            Some(_) => Client::connect_addr(([127, 0, 0, 1], 123).into(), self.timeout),
            None => Client::connect_family(host, self.opts.family, self.timeout),
        };
        let mut client = match mode6 {
            Ok(c) => c,
            Err(e) => {
                let _ = writeln!(self.err, "***Can't find host {host}: {e}");
                return false;
            }
        };
        client.debug = self.opts.debug;
        client.always_auth = self.always_auth;
        if let Some(key_id) = self.opts.key_id {
            match signer(key_id, self.opts.keyfile.as_deref()) {
                Ok(s) => client.signer = Some(s),
                Err(e) => {
                    let _ = writeln!(self.err, "ntpq: {e}");
                    return false;
                }
            }
        }
        // a port in the host spec is chronyd's when the protocol is forced to chronyd
        let explicit_port = host.starts_with('[') && host.contains("]:")
            || (host.matches(':').count() == 1 && host.parse::<IpAddr>().is_err());
        let backend = match (&self.opts.socket, self.opts.protocol) {
            (Some(path), _) => {
                match cmdmon::Client::connect(Endpoint::Unix(path.clone()), self.timeout) {
                    Ok(c) => Backend::Chronyd(Box::new(c)),
                    Err(e) => {
                        let _ = writeln!(self.err, "ntpq: {e}");
                        return false;
                    }
                }
            }
            (None, Protocol::Mode6) => Backend::Mode6,
            (None, Protocol::Chronyd) => {
                let peer = client.peer();
                let port = if explicit_port {
                    peer.port()
                } else {
                    crate::wire::cmdmon::PORT
                };
                match connect_chronyd(chronyd_endpoints(peer, port), self.timeout) {
                    Ok(c) => Backend::Chronyd(Box::new(c)),
                    Err(e) => {
                        let _ = writeln!(self.err, "ntpq: {e}");
                        return false;
                    }
                }
            }
            (None, Protocol::Auto) => Backend::Undetected,
        };
        self.conn = Some(Connection {
            name: host.to_string(),
            client,
            backend,
        });
        self.assoc_cache.clear();
        true
    }

    pub(super) fn host_column(&self) -> Option<(String, usize)> {
        let c = self.conn.as_ref()?;
        (self.host_count > 1).then(|| (c.name.clone(), self.host_width))
    }

    pub(super) fn name_of(&mut self, addr: IpAddr) -> String {
        if let Some(r) = peers::refclock_display(&addr).filter(|_| !self.opts.numeric) {
            return r;
        }
        if self.opts.numeric || addr.is_unspecified() {
            return addr.to_string();
        }
        self.names
            .entry(addr)
            .or_insert_with(|| reverse_lookup(addr))
            .clone()
    }

    pub(super) fn host_text(&mut self, text: &str) -> String {
        match peers::parse_addr(text) {
            Some(a) if !self.opts.numeric => {
                let name = self.name_of(a);
                // keep a port the daemon sent (peeradr)
                match text.rsplit_once(':') {
                    Some((_, port)) if text.contains('.') && port.parse::<u16>().is_ok() => {
                        format!("{name}:{port}")
                    }
                    _ => name,
                }
            }
            _ => text.to_string(),
        }
    }

    pub(super) fn client(&mut self) -> Result<&mut Client, CommandError> {
        match self.conn.as_mut() {
            Some(c) => Ok(&mut c.client),
            None => Err(CommandError::NoHost),
        }
    }

    /// Find out what the open host speaks (`--protocol auto`): a mode 6 READSTAT and a
    /// cmdmon N_SOURCES go out together and the first answer decides, so a mode 6 daemon
    /// costs one round trip more and a chronyd host no mode 6 timeout. When neither
    /// answers, the mode 6 error is the one reported, as before there was a choice.
    pub(super) fn ensure_backend(&mut self) -> Result<(), CommandError> {
        let timeout = self.timeout;
        let debug = self.opts.debug;
        let Some(conn) = self.conn.as_mut() else {
            return Err(CommandError::NoHost);
        };
        if !matches!(conn.backend, Backend::Undetected) {
            return Ok(());
        }
        let peer = conn.client.peer();
        let endpoints = chronyd_endpoints(peer, crate::wire::cmdmon::PORT);
        match crate::control::detect::probe(peer, endpoints, timeout, debug) {
            crate::control::detect::Found::Mode6 => {
                conn.backend = Backend::Mode6;
                Ok(())
            }
            crate::control::detect::Found::Chronyd(c, count) => {
                conn.backend = Backend::Chronyd(c);
                self.probe_count = count;
                Ok(())
            }
            crate::control::detect::Found::Nothing { chronyd_silent } => {
                Err(CommandError::NoAnswer {
                    chronyd_silent_remote: chronyd_silent && !peer.ip().is_loopback(),
                })
            }
        }
    }

    pub(super) fn chronyd(&mut self) -> Option<&mut cmdmon::Client> {
        match self.conn.as_mut().map(|c| &mut c.backend) {
            Some(Backend::Chronyd(c)) => Some(c),
            _ => None,
        }
    }

    /// chronyd's sources, or the error printed and None.
    pub(super) fn chronyd_sources(&mut self) -> Option<Vec<chronyd::Source>> {
        let known = self.probe_count.take();
        let r = chronyd::fetch_sources(self.chronyd()?, known);
        match r {
            Ok(s) => Some(s),
            Err(e) => {
                let _ = writeln!(self.err, "{e}");
                None
            }
        }
    }
}

/// Build the request signer for `-a keyid` from the keys file.
fn signer(key_id: u32, keyfile: Option<&std::path::Path>) -> Result<Signer, SignerError> {
    let path = keyfile.unwrap_or(std::path::Path::new("/etc/ntp.keys"));
    crate::control::auth_glue::signer_from_keyfile(path, key_id)
}
