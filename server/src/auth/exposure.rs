//! Safe by default: a listener on an address other machines can reach (anything outside
//! 127.0.0.0/8 and ::1, `0.0.0.0` and `::` included) must have TLS and authentication, unless
//! the operator passes `--insecure`, which is then logged as a warning. Every listener (gRPC,
//! HTTP, Thrift) calls [`check_listen`] before it binds, with what it has.
//!
//! This file only judges an address and a listener's protection; it must never bind or
//! read anything.

use std::net::{IpAddr, SocketAddr};

/// One kind of listener and the flags that protect it, for the messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Listener {
    /// Its name in messages (`gRPC`).
    pub name: &'static str,
    /// The flag that sets its address (`--listen`).
    pub address_flag: &'static str,
    /// The flags that turn TLS on.
    pub tls_flags: &'static str,
    /// The flags that turn authentication on.
    pub auth_flags: &'static str,
}

impl Listener {
    /// The gRPC listener.
    pub const GRPC: Listener = Listener {
        name: "gRPC",
        address_flag: "--listen",
        tls_flags: "--tls-cert FILE --tls-key FILE",
        auth_flags: "--auth-tokens FILE (or --tls-client-ca FILE for client certificates)",
    };

    /// The HTTP server (dashboard, JSON, `/metrics`): the same TLS files and authentication
    /// as gRPC.
    pub const HTTP: Listener = Listener {
        name: "HTTP",
        address_flag: "--http-listen",
        tls_flags: "--tls-cert FILE --tls-key FILE",
        auth_flags: "--auth-tokens FILE (or --tls-client-ca FILE for client certificates)",
    };

    /// The HBase Thrift1 gateway: TLS is opt-in (`--thrift-tls`, happybase has none), and
    /// its callers authenticate with client certificates only (Thrift1 carries no token).
    pub const THRIFT: Listener = Listener {
        name: "Thrift",
        address_flag: "--thrift-listen",
        tls_flags: "--thrift-tls (with --tls-cert FILE --tls-key FILE)",
        auth_flags: "--tls-client-ca FILE (Thrift1 carries no token: its callers authenticate \
                     with client certificates)",
    };
}

/// What protects a listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Protection {
    /// Connections are TLS.
    pub tls: bool,
    /// Requests must authenticate (tokens, or client certificates).
    pub authentication: bool,
}

/// The judgement of one listener's address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Loopback, or protected by TLS and authentication.
    Safe,
    /// Unprotected but allowed by `--insecure`: the warning to log.
    Insecure(String),
    /// Refused: the error to report (it says exactly what to add).
    Refused(String),
}

/// Whether `ip` is reachable from this machine only (127.0.0.0/8, ::1, or an IPv4-mapped
/// 127.x address).
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// Judge `listener` on `addr` with `protection`, `--insecure` given or not.
pub fn assess(
    listener: Listener,
    addr: SocketAddr,
    protection: Protection,
    insecure: bool,
) -> Verdict {
    if protection.tls && protection.authentication {
        return Verdict::Safe;
    }
    if is_loopback(addr.ip()) {
        return if insecure {
            Verdict::Insecure(format!(
                "--insecure has no effect: {addr} is a loopback address, reachable from this \
                 machine only"
            ))
        } else {
            Verdict::Safe
        };
    }
    let missing = match (protection.tls, protection.authentication) {
        (false, false) => format!("{} and {}", listener.tls_flags, listener.auth_flags),
        (false, true) => listener.tls_flags.to_owned(),
        _ => listener.auth_flags.to_owned(),
    };
    let (without, has_not) = match (protection.tls, protection.authentication) {
        (false, false) => ("TLS and authentication", "neither TLS nor authentication"),
        (false, true) => (
            "TLS (tokens would cross the network in clear text)",
            "no TLS (tokens would cross the network in clear text)",
        ),
        _ => ("authentication", "no authentication"),
    };
    if insecure {
        Verdict::Insecure(format!(
            "--insecure: the {} listener on {addr} is reachable from other machines without \
             {without}; anyone who can reach it can use it. Add {missing} to protect it",
            listener.name
        ))
    } else {
        Verdict::Refused(format!(
            "refusing to serve {} on {addr} ({} {addr}): an address other machines can reach \
             needs TLS and authentication, and this listener has {has_not}. Add {missing}, \
             or listen on 127.0.0.1, or pass --insecure to serve it unprotected anyway",
            listener.name, listener.address_flag
        ))
    }
}

/// Why a listener must not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Exposed(pub String);

/// [`assess`], logging the warning of an `--insecure` listener; `Err` when it must not start.
pub fn check_listen(
    listener: Listener,
    addr: SocketAddr,
    protection: Protection,
    insecure: bool,
) -> Result<(), Exposed> {
    match assess(listener, addr, protection, insecure) {
        Verdict::Safe => Ok(()),
        Verdict::Insecure(warning) => {
            tracing::warn!("{warning}");
            Ok(())
        }
        Verdict::Refused(error) => Err(Exposed(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPEN: Protection = Protection {
        tls: false,
        authentication: false,
    };

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("address")
    }

    #[test]
    fn loopback_is_safe_whatever_the_protection() {
        for a in [
            "127.0.0.1:1",
            "127.3.4.5:1",
            "[::1]:1",
            "[::ffff:127.0.0.1]:1",
        ] {
            assert_eq!(
                assess(Listener::GRPC, addr(a), OPEN, false),
                Verdict::Safe,
                "{a}"
            );
        }
    }

    #[test]
    fn other_addresses_need_tls_and_authentication() {
        for a in [
            "0.0.0.0:50051",
            "[::]:50051",
            "10.1.2.3:1",
            "[fe80::1]:1",
            "128.0.0.1:1",
        ] {
            let Verdict::Refused(m) = assess(Listener::GRPC, addr(a), OPEN, false) else {
                panic!("{a} should be refused");
            };
            assert!(m.contains("--tls-cert FILE --tls-key FILE"), "{m}");
            assert!(m.contains("--auth-tokens FILE"), "{m}");
            assert!(m.contains("--insecure"), "{m}");
        }
        let tls_only = Protection {
            tls: true,
            authentication: false,
        };
        let Verdict::Refused(m) = assess(Listener::GRPC, addr("0.0.0.0:1"), tls_only, false) else {
            panic!("tls without authentication is refused");
        };
        assert!(
            m.contains("no authentication") && !m.contains("--tls-cert"),
            "{m}"
        );
        let both = Protection {
            tls: true,
            authentication: true,
        };
        assert_eq!(
            assess(Listener::GRPC, addr("0.0.0.0:1"), both, false),
            Verdict::Safe
        );
    }

    #[test]
    fn insecure_allows_with_a_warning() {
        let v = assess(Listener::GRPC, addr("0.0.0.0:1"), OPEN, true);
        let Verdict::Insecure(w) = v else {
            panic!("expected a warning, got {v:?}");
        };
        assert!(w.contains("--insecure") && w.contains("0.0.0.0:1"), "{w}");
        assert!(check_listen(Listener::GRPC, addr("0.0.0.0:1"), OPEN, true).is_ok());
        assert!(check_listen(Listener::GRPC, addr("0.0.0.0:1"), OPEN, false).is_err());
        let v = assess(Listener::GRPC, addr("127.0.0.1:1"), OPEN, true);
        assert!(
            matches!(&v, Verdict::Insecure(w) if w.contains("no effect")),
            "{v:?}"
        );
    }
}
