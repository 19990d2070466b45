//! The server sockets to open and opening them: `-I` names, else the configuration's
//! `interface` rules, else the wildcards; an SO_REUSEPORT group per address for the fast
//! path's threads. One address family that cannot be used is logged and skipped, as ntpd
//! does: a host without IPv6 (or without IPv4) still gets a daemon.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;

use super::interfaces;
use super::log;
use super::netio::{self, BindSpec};
use super::settings::{listen_addresses, Options, Settings};

/// One bound server socket.
pub struct Listener {
    pub sock: Arc<UdpSocket>,
    pub label: String,
}

/// One address to open.
#[derive(Clone, Debug, PartialEq)]
pub struct ToBind {
    pub addr: SocketAddr,
    /// SO_BINDTODEVICE (`-I eth0`).
    pub device: Option<String>,
    /// `interface drop`: opened, everything arriving discarded.
    pub drop: bool,
    /// How the log names it.
    pub label: String,
}

/// What to open: `-I` names (ntpd: these replace every `interface` rule), else the
/// config's `interface` rules applied to the host's addresses, else the wildcards.
/// Why ntpd cannot listen.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("cannot list the network interfaces: {0}")]
    Interfaces(io::Error),
    #[error("cannot bind {label}: {err}")]
    Bind { label: String, err: io::Error },
    #[error("no address to listen on")]
    NoAddress,
    /// Every serving address failed, each for a reason that alone would have been skipped.
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    AllFailed(Vec<ListenError>),
}

pub fn plan(opts: &Options, settings: &Settings) -> Result<Vec<ToBind>, ListenError> {
    let rules = &settings.config.interfaces;
    if !opts.interfaces.is_empty() || rules.is_empty() {
        if !opts.interfaces.is_empty() && !rules.is_empty() {
            log::notice("-I given: the configuration's interface rules are not used");
        }
        return Ok(listen_addresses(opts.families, &opts.interfaces, opts.port)
            .into_iter()
            .map(|(addr, device)| {
                let label = match &device {
                    Some(d) => format!("{addr}%{d}"),
                    None => addr.to_string(),
                };
                ToBind {
                    addr,
                    device,
                    drop: false,
                    label,
                }
            })
            .collect());
    }
    let addresses = interfaces::local_addresses().map_err(ListenError::Interfaces)?;
    Ok(
        interfaces::plan(rules, opts.families, opts.port, &addresses)
            .into_iter()
            // -L: no virtual interfaces (eth0:1 style names)
            .filter(|p| !(opts.novirtualips && p.interface.contains(':')))
            .map(|p| ToBind {
                label: format!("{} {}", p.interface, p.addr),
                addr: p.addr,
                device: None,
                drop: p.drop,
            })
            .collect(),
    )
}

/// The serving sockets (a group per address, `per_addr` sockets each) and the drop-only
/// ones.
pub type Bound = (Vec<Vec<Listener>>, Vec<Listener>);

/// The system calls binding needs, so the rules below can be tried without root or a host
/// that lacks a family.
pub trait Binder {
    /// Whether another program holds the port (see `netio::check_port_free`).
    fn check_port_free(&mut self, addr: SocketAddr) -> io::Result<()>;
    fn bind(&mut self, spec: &BindSpec) -> io::Result<UdpSocket>;
}

/// The real thing.
pub struct Kernel;

impl Binder for Kernel {
    fn check_port_free(&mut self, addr: SocketAddr) -> io::Result<()> {
        netio::check_port_free(addr)
    }
    fn bind(&mut self, spec: &BindSpec) -> io::Result<UdpSocket> {
        netio::bind_udp(spec)
    }
}

/// Bind every planned address. A serving address that fails is skipped with a warning when
/// the plan has an address of the other family to serve on — whatever the error: a kernel
/// without IPv6 says EAFNOSUPPORT, a host with it switched off EADDRNOTAVAIL, some sandboxes
/// EINVAL — except "in use": then another daemon holds the port, and serving the other
/// family beside it would split the clients between two daemons. The error comes only when
/// nothing could be opened.
pub fn bind_all(
    plan: &[ToBind],
    per_addr: usize,
    binder: &mut impl Binder,
) -> Result<Bound, ListenError> {
    let mut groups = Vec::new();
    let mut drops = Vec::new();
    let mut skipped = Vec::new();
    let other_family_planned = |addr: SocketAddr| {
        plan.iter()
            .any(|b| !b.drop && b.addr.is_ipv4() != addr.is_ipv4())
    };
    for b in plan {
        if b.drop {
            let spec = BindSpec {
                addr: b.addr,
                device: b.device.clone(),
                reuse_port: false,
            };
            match binder.bind(&spec) {
                Ok(s) => {
                    log::info(&format!("Listen and drop on {}", b.label));
                    drops.push(Listener {
                        sock: Arc::new(s),
                        label: b.label.clone(),
                    });
                }
                Err(e) => log::warn(&format!("cannot bind {} (drop): {e}", b.label)),
            }
            continue;
        }
        let failed = |err: io::Error, skipped: &mut Vec<ListenError>| {
            let in_use = err.kind() == io::ErrorKind::AddrInUse;
            let e = ListenError::Bind {
                label: b.label.clone(),
                err,
            };
            if in_use || !other_family_planned(b.addr) {
                return Err(e);
            }
            log::warn(&format!("{e}; serving the other address family"));
            skipped.push(e);
            Ok(())
        };
        // Port 0 (tests): let the first socket pick, the rest of the group join it.
        if b.addr.port() != 0 {
            if let Err(e) = binder.check_port_free(b.addr) {
                failed(e, &mut skipped)?;
                continue;
            }
        }
        let mut group = Vec::new();
        let mut bound = b.addr;
        for _ in 0..per_addr.max(1) {
            let spec = BindSpec {
                addr: bound,
                device: b.device.clone(),
                reuse_port: per_addr > 1,
            };
            match binder.bind(&spec) {
                Ok(s) => {
                    bound = s.local_addr().unwrap_or(bound);
                    group.push(Listener {
                        sock: Arc::new(s),
                        label: b.label.clone(),
                    });
                }
                // the family works (the first socket is bound): this is no family problem
                Err(err) if !group.is_empty() => {
                    return Err(ListenError::Bind {
                        label: b.label.clone(),
                        err,
                    })
                }
                Err(e) => {
                    failed(e, &mut skipped)?;
                    break;
                }
            }
        }
        if !group.is_empty() {
            log::info(&format!(
                "Listen normally on {} ({} socket{})",
                group[0].label,
                group.len(),
                if group.len() == 1 { "" } else { "s" }
            ));
            groups.push(group);
        }
    }
    if groups.is_empty() {
        return Err(if skipped.is_empty() {
            ListenError::NoAddress
        } else {
            ListenError::AllFailed(skipped)
        });
    }
    Ok((groups, drops))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Binds for real on loopback (port 0: no root needed), except that addresses of the
    /// failing family (`None`: every address) get `errno`.
    struct Failing {
        v6: Option<bool>,
        errno: i32,
    }

    impl Failing {
        fn check(&self, addr: &SocketAddr) -> io::Result<()> {
            match self.v6 {
                Some(v6) if addr.is_ipv6() != v6 => Ok(()),
                _ => Err(io::Error::from_raw_os_error(self.errno)),
            }
        }
    }

    impl Binder for Failing {
        fn check_port_free(&mut self, addr: SocketAddr) -> io::Result<()> {
            self.check(&addr)
        }
        fn bind(&mut self, spec: &BindSpec) -> io::Result<UdpSocket> {
            self.check(&spec.addr)?;
            netio::bind_udp(spec)
        }
    }

    fn loopbacks(port: u16) -> Vec<ToBind> {
        ["127.0.0.1", "::1"]
            .iter()
            .map(|ip| {
                let addr = SocketAddr::new(ip.parse().unwrap(), port);
                ToBind {
                    addr,
                    device: None,
                    drop: false,
                    label: addr.to_string(),
                }
            })
            .collect()
    }

    fn families(b: &Bound) -> Vec<bool> {
        b.0.iter()
            .map(|g| g[0].sock.local_addr().unwrap().is_ipv4())
            .collect()
    }

    #[test]
    fn ipv6_failing_with_any_error_leaves_ipv4_served() {
        for errno in [
            libc::EINVAL,
            libc::EAFNOSUPPORT,
            libc::EADDRNOTAVAIL,
            libc::EPERM,
        ] {
            let mut b = Failing {
                v6: Some(true),
                errno,
            };
            let bound =
                bind_all(&loopbacks(0), 2, &mut b).unwrap_or_else(|e| panic!("{errno}: {e}"));
            assert_eq!(families(&bound), [true], "errno {errno}");
            assert_eq!(bound.0[0].len(), 2, "the IPv4 group is whole");
        }
        // the early "in use" check (real ports only) failing the same way
        let mut plan = loopbacks(0);
        plan[1].addr.set_port(123);
        let mut b = Failing {
            v6: Some(true),
            errno: libc::EINVAL,
        };
        let bound = bind_all(&plan, 1, &mut b).unwrap();
        assert_eq!(families(&bound), [true]);
    }

    #[test]
    fn ipv4_failing_leaves_ipv6_served() {
        if UdpSocket::bind("[::1]:0").is_err() {
            eprintln!("SKIPPED ipv4_failing_leaves_ipv6_served: no IPv6 loopback here");
            return;
        }
        let mut b = Failing {
            v6: Some(false),
            errno: libc::EINVAL,
        };
        let bound = bind_all(&loopbacks(0), 1, &mut b).unwrap();
        assert_eq!(families(&bound), [false]);
    }

    #[test]
    fn in_use_is_fatal_even_with_the_other_family_free() {
        let mut b = Failing {
            v6: Some(false),
            errno: libc::EADDRINUSE,
        };
        let mut plan = loopbacks(0);
        plan[0].addr.set_port(123);
        plan[0].label = plan[0].addr.to_string();
        let e = bind_all(&plan, 1, &mut b)
            .err()
            .expect("in use must stop the daemon")
            .to_string();
        assert!(e.contains("127.0.0.1:123") && e.contains("in use"), "{e}");
    }

    #[test]
    fn one_family_planned_or_both_failing_is_an_error_naming_the_addresses() {
        let mut b = Failing {
            v6: Some(true),
            errno: libc::EINVAL,
        };
        let e = bind_all(&loopbacks(0)[1..], 1, &mut b)
            .err()
            .expect("-6 without IPv6")
            .to_string();
        assert!(e.starts_with("cannot bind [::1]:0: "), "{e}");
        let mut b = Failing {
            v6: None,
            errno: libc::EINVAL,
        };
        let e = bind_all(&loopbacks(0), 1, &mut b)
            .err()
            .expect("nothing bound")
            .to_string();
        assert!(e.contains("127.0.0.1:0") && e.contains("[::1]:0"), "{e}");
    }
}
