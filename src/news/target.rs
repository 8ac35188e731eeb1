//! Where a webhook may be delivered, decided before any connection: guards against
//! server-side request forgery (a platform, or whoever set its URL, making the bridge
//! reach what only the bridge's network can).
//!
//! - `https` only, and `http` only to hosts the operator allows (`http.webhook_allow`).
//! - No user name or password in the URL; the host is a name or an address literal.
//! - Every address the name resolves to must be public: loopback, private, link-local,
//!   shared (CGNAT), unspecified, multicast, documentation and benchmarking ranges are
//!   refused unless the host is allowed. The connection goes to an address so checked,
//!   not to a second lookup of the name.
//! - Redirects are not followed (the deliverer counts a 3xx as a failed attempt).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A webhook URL, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub tls: bool,
    /// The host as written (brackets of an IPv6 literal removed), lowercase.
    pub host: String,
    pub port: u16,
    /// The path and query, `/` at least.
    pub path: String,
}

/// The longest URL accepted.
pub const MAX_URL_CHARS: usize = 2048;

impl Target {
    /// Reads `url`, refusing what is not an `http(s)` URL with a host, or carries
    /// credentials.
    pub fn parse(url: &str) -> Result<Target, String> {
        let url = url.trim();
        if url.len() > MAX_URL_CHARS || url.chars().any(|c| c.is_control() || c == ' ') {
            return Err(format!(
                "a webhook URL is at most {MAX_URL_CHARS} characters, without spaces or control characters"
            ));
        }
        let (tls, rest) = if let Some(rest) = strip_prefix_ignore_case(url, "https://") {
            (true, rest)
        } else if let Some(rest) = strip_prefix_ignore_case(url, "http://") {
            (false, rest)
        } else {
            return Err(
                "a webhook URL starts with https:// (or http:// to a host the operator allows)"
                    .into(),
            );
        };
        let (authority, path) = match rest.find(['/', '?', '#']) {
            Some(at) => (&rest[..at], &rest[at..]),
            None => (rest, "/"),
        };
        let path = path.split('#').next().unwrap_or("/");
        let path = if path.starts_with('/') {
            path.to_owned()
        } else {
            format!("/{path}")
        };
        if authority.contains('@') {
            return Err(
                "a webhook URL carries no user name or password: the signature proves the sender"
                    .into(),
            );
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or(
                "an IPv6 address in a URL is written in brackets: https://[2001:db8::1]/hook",
            )?;
            let port = match after.strip_prefix(':') {
                Some(port) => Some(port),
                None if after.is_empty() => None,
                None => {
                    return Err(
                        "after an IPv6 address in brackets comes a port, or the path".into(),
                    )
                }
            };
            (host, port)
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            }
        };
        let port = match port {
            None => {
                if tls {
                    443
                } else {
                    80
                }
            }
            Some(port) => port
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or("the port of a webhook URL is a number from 1 to 65535")?,
        };
        let host = host.to_ascii_lowercase();
        let plausible = !host.is_empty()
            && host.len() <= 253
            && (host.parse::<IpAddr>().is_ok()
                || host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'));
        if !plausible {
            return Err("the host of a webhook URL is a domain name or an IP address".into());
        }
        Ok(Target {
            tls,
            host,
            port,
            path,
        })
    }

    /// Whether the operator allows this host plain HTTP and non-public addresses.
    pub fn allowed(&self, allow: &[String]) -> bool {
        allow.iter().any(|a| a.eq_ignore_ascii_case(&self.host))
    }

    /// Refuses plain HTTP to a host the operator did not allow.
    pub fn check_scheme(&self, allow: &[String]) -> Result<(), String> {
        if self.tls || self.allowed(allow) {
            Ok(())
        } else {
            Err(format!(
                "plain http is refused to {}: use https, or the operator adds the host to http.webhook_allow",
                self.host
            ))
        }
    }

    /// The first of `addresses` the bridge may connect to.
    pub fn pick(&self, addresses: &[IpAddr], allow: &[String]) -> Result<IpAddr, String> {
        if self.allowed(allow) {
            return addresses
                .first()
                .copied()
                .ok_or_else(|| format!("{} has no address", self.host));
        }
        if let Some(bad) = addresses.iter().find(|a| !is_public(**a)) {
            return Err(format!(
                "{} resolves to {bad}, which is not a public address: refused unless the operator adds the host to http.webhook_allow",
                self.host
            ));
        }
        addresses
            .first()
            .copied()
            .ok_or_else(|| format!("{} has no address", self.host))
    }
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

/// Whether `address` is reachable on the public internet (not a range of one's own
/// network or host, nor one reserved).
pub fn is_public(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(a: Ipv4Addr) -> bool {
    let [first, second, third, _] = a.octets();
    !(a.is_unspecified()
        || a.is_loopback()
        || a.is_private()
        || a.is_link_local()
        || a.is_broadcast()
        || a.is_multicast()
        || a.is_documentation()
        || first == 0
        // Shared address space (RFC 6598), benchmarking (RFC 2544), reserved (240/4),
        // IETF protocol assignments (192.0.0/24).
        || (first == 100 && (64..128).contains(&second))
        || (first == 198 && (second == 18 || second == 19))
        || first >= 240
        || (first == 192 && second == 0 && third == 0))
}

fn is_public_v6(a: Ipv6Addr) -> bool {
    let first = a.segments()[0];
    !(a.is_unspecified()
        || a.is_loopback()
        || a.is_multicast()
        // Unique local fc00::/7, link-local fe80::/10, documentation 2001:db8::/32,
        // site-local fec0::/10 (deprecated), NAT64 64:ff9b::/96 left to its IPv4 check.
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || (first & 0xffc0) == 0xfec0
        || (first == 0x2001 && a.segments()[1] == 0xdb8))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn urls_are_read_with_their_defaults() {
        let t = Target::parse("https://Hooks.Example.org/xgb?x=1#frag").unwrap();
        assert_eq!(
            t,
            Target {
                tls: true,
                host: "hooks.example.org".into(),
                port: 443,
                path: "/xgb?x=1".into()
            }
        );
        let t = Target::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!((t.tls, t.port, t.path.as_str()), (false, 8080, "/"));
        let t = Target::parse("https://[2001:db8::1]:8443/h").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("2001:db8::1", 8443));
        for bad in [
            "ftp://example.org/",
            "https://user:pw@example.org/",
            "https://example.org:0/",
            "https://example.org:99999/",
            "https://exa mple.org/",
            "https:///path",
            "https://[::1/x",
            "https://ex_ample.org/",
            "//example.org",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn plain_http_and_private_addresses_need_the_operator() {
        let allow = vec!["127.0.0.1".to_owned(), "receiver.internal".to_owned()];
        let local = Target::parse("http://127.0.0.1:9000/hook").unwrap();
        assert!(local.check_scheme(&allow).is_ok());
        assert!(local.check_scheme(&[]).is_err());
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(local.pick(&[loopback], &allow), Ok(loopback));
        let named = Target::parse("https://hooks.example.org/").unwrap();
        let public: IpAddr = "203.0.114.7".parse().unwrap();
        assert_eq!(named.pick(&[public], &[]), Ok(public));
        // A name that resolves to anything private is refused, whatever else it gives.
        let error = named
            .pick(&[public, "10.1.2.3".parse().unwrap()], &[])
            .unwrap_err();
        assert!(error.contains("10.1.2.3"), "{error}");
    }

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in [
            "8.8.8.8",
            "1.1.1.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "203.0.114.7",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    proptest! {
        /// Any text is a target or a refusal in words, never a panic.
        #[test]
        fn any_text_parses_or_is_refused(url in ".{0,80}") {
            let _ = Target::parse(&url);
        }

        /// A parsed target's path starts with a slash, and its host has no delimiters.
        #[test]
        fn parsed_targets_are_well_formed(host in "[a-z][a-z0-9-]{0,20}(\\.[a-z]{2,5}){0,2}", port in 1u16.., path in "(/[a-z0-9]{0,8}){0,3}") {
            let target = Target::parse(&format!("https://{host}:{port}{path}")).unwrap();
            prop_assert_eq!(target.host, host);
            prop_assert_eq!(target.port, port);
            prop_assert!(target.path.starts_with('/'));
        }
    }
}
