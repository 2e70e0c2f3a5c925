//! The client address a request counts against (lockout, rate limit, audit).
//!
//! By default it is the TCP peer. A client that reaches the service directly writes any
//! `x-forwarded-for` it likes, so the header is read only when the operator says the service
//! sits behind proxies (`AUTH_SERVICE__LOCKOUT__TRUST_FORWARDED_FOR`), and then only the entry
//! written by the outermost trusted proxy: each proxy *appends* the address it received the
//! request from, so with `n` trusted proxies the client is the `n`-th entry from the right
//! (`AUTH_SERVICE__LOCKOUT__TRUSTED_PROXIES`, default 1 = the rightmost). Entries further left
//! were written by the client and are never used (OWASP Authentication Cheat Sheet; RFC 7239
//! §8.3; MDN `X-Forwarded-For`, "Selecting an IP address").

use crate::config::LockoutSettings;
use std::net::{IpAddr, SocketAddr};
use tonic::Request;

/// Where the client address comes from. `Copy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressSource {
    /// The TCP peer address (the default).
    Peer,
    /// The entry `trusted_proxies` places from the right of `x-forwarded-for` (all of the
    /// request's `x-forwarded-for` values joined in order); the peer address when the header
    /// is absent or that entry does not parse.
    ForwardedFor {
        /// Proxies in front of the service, at least 1.
        trusted_proxies: usize,
    },
}

impl AddressSource {
    /// The source `settings` configure (`TRUST_FORWARDED_FOR`, `TRUSTED_PROXIES`).
    pub fn from_settings(settings: &LockoutSettings) -> AddressSource {
        if settings.trust_forwarded_for {
            AddressSource::ForwardedFor {
                trusted_proxies: settings.trusted_proxies.max(1) as usize,
            }
        } else {
            AddressSource::Peer
        }
    }

    /// The address `request` counts against; `None` when neither the header (if trusted) nor
    /// the peer is known (in-process calls).
    ///
    /// With `trusted_proxies = n` and fewer than `n` entries, the leftmost entry is used: the
    /// request passed fewer proxies than configured, and every entry was still written by one
    /// of them. An entry may carry a port (`203.0.113.7:4711`, `[2001:db8::1]:443`).
    pub fn client_address<T>(&self, request: &Request<T>) -> Option<IpAddr> {
        let forwarded = match *self {
            AddressSource::Peer => None,
            AddressSource::ForwardedFor { trusted_proxies } => {
                forwarded_for(request, trusted_proxies)
            }
        };
        forwarded.or_else(|| request.remote_addr().map(|a| a.ip()))
    }
}

fn forwarded_for<T>(request: &Request<T>, trusted_proxies: usize) -> Option<IpAddr> {
    let mut entries = Vec::new();
    for value in request.metadata().get_all("x-forwarded-for").iter() {
        // A value that is not visible ASCII cannot have come from a proxy: ignore the header.
        let value = value.to_str().ok()?;
        entries.extend(value.split(',').map(str::trim).filter(|e| !e.is_empty()));
    }
    let index = entries
        .len()
        .checked_sub(1)?
        .saturating_sub(trusted_proxies - 1);
    parse_entry(entries[index])
}

fn parse_entry(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|a| a.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_headers(values: &[&str]) -> Request<()> {
        let mut r = Request::new(());
        for v in values {
            r.metadata_mut()
                .append("x-forwarded-for", v.parse().unwrap());
        }
        r
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn the_peer_source_ignores_the_header() {
        let r = with_headers(&["10.0.0.9"]);
        assert_eq!(AddressSource::Peer.client_address(&r), None);
        assert_eq!(
            AddressSource::from_settings(&LockoutSettings::default()),
            AddressSource::Peer
        );
    }

    #[test]
    fn trusted_proxies_count_from_the_right() {
        let one = AddressSource::ForwardedFor { trusted_proxies: 1 };
        let two = AddressSource::ForwardedFor { trusted_proxies: 2 };
        let spoofed = with_headers(&["6.6.6.6, 203.0.113.7"]);
        assert_eq!(one.client_address(&spoofed), ip("203.0.113.7"));
        assert_eq!(two.client_address(&spoofed), ip("6.6.6.6"));
        // Several headers are one list, in order.
        let split = with_headers(&["6.6.6.6", "203.0.113.7, 10.0.0.2"]);
        assert_eq!(one.client_address(&split), ip("10.0.0.2"));
        assert_eq!(two.client_address(&split), ip("203.0.113.7"));
        // Fewer entries than proxies: the leftmost.
        let three = AddressSource::ForwardedFor { trusted_proxies: 3 };
        assert_eq!(
            three.client_address(&with_headers(&["203.0.113.7, 10.0.0.2"])),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn ports_are_dropped_and_garbage_falls_back_to_the_peer() {
        let one = AddressSource::ForwardedFor { trusted_proxies: 1 };
        assert_eq!(
            one.client_address(&with_headers(&["203.0.113.7:4711"])),
            ip("203.0.113.7")
        );
        assert_eq!(
            one.client_address(&with_headers(&["[2001:db8::1]:443"])),
            ip("2001:db8::1")
        );
        // The rightmost entry is garbage: no other entry is tried (it would be client-written).
        assert_eq!(
            one.client_address(&with_headers(&["203.0.113.7, unknown"])),
            None
        );
        assert_eq!(one.client_address(&with_headers(&[" , "])), None);
        assert_eq!(one.client_address(&Request::new(())), None);
    }
}
