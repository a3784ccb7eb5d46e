//! The SSRF guard: webhooks go to the public internet only, unless private networks are allowed.
//!
//! A tenant chooses its endpoints' URLs, so without a guard a webhook could probe the network
//! paystate runs in (a metadata service at 169.254.169.254, an admin port on 127.0.0.1). The
//! guard is applied where it cannot be dodged: on the addresses a host name resolves to, inside
//! the HTTP client's resolver, so the address connected to is the address checked (a DNS answer
//! that changes between a check and the connection, "DNS rebinding", gains nothing). Hosts
//! written as IP literals never reach a resolver and are checked directly. URLs are also checked
//! when an endpoint is created or changed, so most mistakes are refused up front.
//!
//! `PAYSTATE_WEBHOOKS_ALLOW_PRIVATE_NETWORKS=true` allows loopback, private, link-local, CGNAT
//! and unique-local addresses (tests, on-premise receivers); multicast, unspecified, reserved and
//! documentation addresses stay refused.

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The environment variable of the switch that allows private networks.
pub const ALLOW_PRIVATE_NETWORKS_VARIABLE: &str = "PAYSTATE_WEBHOOKS_ALLOW_PRIVATE_NETWORKS";

/// What kind of address an IP is, for the guard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressClass {
    Public,
    /// Refused unless private networks are allowed; says which kind.
    Private(&'static str),
    /// Always refused; says which kind.
    Forbidden(&'static str),
}

fn in_v4(ip: Ipv4Addr, network: [u8; 4], prefix: u32) -> bool {
    let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) };
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(network)) & mask
}

fn in_v6(ip: Ipv6Addr, network: Ipv6Addr, prefix: u32) -> bool {
    let mask = if prefix == 0 { 0 } else { u128::MAX << (128 - prefix) };
    u128::from(ip) & mask == u128::from(network) & mask
}

/// Classifies an IPv4 address.
pub fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    use AddressClass::{Forbidden, Private, Public};
    const PRIVATE: &[([u8; 4], u32, &str)] = &[
        ([127, 0, 0, 0], 8, "a loopback address"),
        ([10, 0, 0, 0], 8, "a private address"),
        ([172, 16, 0, 0], 12, "a private address"),
        ([192, 168, 0, 0], 16, "a private address"),
        ([169, 254, 0, 0], 16, "a link-local address"),
        ([100, 64, 0, 0], 10, "a carrier-grade NAT address"),
    ];
    const FORBIDDEN: &[([u8; 4], u32, &str)] = &[
        ([0, 0, 0, 0], 8, "an unspecified (\"this network\") address"),
        ([192, 0, 0, 0], 24, "an IETF protocol assignment"),
        ([192, 0, 2, 0], 24, "a documentation address"),
        ([198, 51, 100, 0], 24, "a documentation address"),
        ([203, 0, 113, 0], 24, "a documentation address"),
        ([198, 18, 0, 0], 15, "a benchmarking address"),
        ([192, 88, 99, 0], 24, "a 6to4 relay address"),
        ([224, 0, 0, 0], 4, "a multicast address"),
        ([240, 0, 0, 0], 4, "a reserved address"),
    ];
    if let Some((_, _, kind)) = PRIVATE.iter().find(|(net, prefix, _)| in_v4(ip, *net, *prefix)) {
        return Private(kind);
    }
    if let Some((_, _, kind)) = FORBIDDEN.iter().find(|(net, prefix, _)| in_v4(ip, *net, *prefix)) {
        return Forbidden(kind);
    }
    Public
}

/// Classifies an IPv6 address; addresses that embed an IPv4 address are judged by it as well.
pub fn classify_v6(ip: Ipv6Addr) -> AddressClass {
    use AddressClass::{Forbidden, Private, Public};
    let bits = u128::from(ip);
    // IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible (::a.b.c.d): a connection goes to the
    // embedded IPv4 address. Refused by default even when that one is public.
    if in_v6(ip, Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0), 96) || (in_v6(ip, Ipv6Addr::UNSPECIFIED, 96) && bits > 1) {
        let embedded = Ipv4Addr::from((bits & 0xffff_ffff) as u32);
        return match classify_v4(embedded) {
            Public => Private("an IPv4-mapped IPv6 address"),
            other => other,
        };
    }
    // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) reach an embedded IPv4 address too.
    if in_v6(ip, Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96) {
        let embedded = Ipv4Addr::from((bits & 0xffff_ffff) as u32);
        if classify_v4(embedded) != Public {
            return classify_v4(embedded);
        }
    }
    if in_v6(ip, Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16) {
        let embedded = Ipv4Addr::from(((bits >> 80) & 0xffff_ffff) as u32);
        if classify_v4(embedded) != Public {
            return classify_v4(embedded);
        }
    }
    if ip == Ipv6Addr::LOCALHOST {
        return Private("a loopback address");
    }
    if ip == Ipv6Addr::UNSPECIFIED {
        return Forbidden("an unspecified address");
    }
    const PRIVATE: &[(Ipv6Addr, u32, &str)] = &[
        (Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7, "a unique-local address"),
        (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10, "a link-local address"),
        (Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0), 10, "a site-local address"),
    ];
    const FORBIDDEN: &[(Ipv6Addr, u32, &str)] = &[
        (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8, "a multicast address"),
        (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32, "a documentation address"),
        (Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0), 64, "a discard-only address"),
        (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 32, "a Teredo tunnel address"),
        (Ipv6Addr::new(0x2001, 0x10, 0, 0, 0, 0, 0, 0), 28, "an ORCHID address"),
    ];
    if let Some((_, _, kind)) = PRIVATE.iter().find(|(net, prefix, _)| in_v6(ip, *net, *prefix)) {
        return Private(kind);
    }
    if let Some((_, _, kind)) = FORBIDDEN.iter().find(|(net, prefix, _)| in_v6(ip, *net, *prefix)) {
        return Forbidden(kind);
    }
    // Only the global unicast range 2000::/3 is routed on the internet.
    if !in_v6(ip, Ipv6Addr::new(0x2000, 0, 0, 0, 0, 0, 0, 0), 3) {
        return Forbidden("a reserved address");
    }
    Public
}

pub fn classify(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

/// Why the guard refused an address, or `None` when it may be connected to.
pub fn refusal(ip: IpAddr, allow_private: bool) -> Option<String> {
    match classify(ip) {
        AddressClass::Public => None,
        AddressClass::Private(_) if allow_private => None,
        AddressClass::Private(kind) => {
            Some(format!("{ip} is {kind} (set {ALLOW_PRIVATE_NETWORKS_VARIABLE}=true to allow private networks)"))
        }
        AddressClass::Forbidden(kind) => Some(format!("{ip} is {kind}")),
    }
}

/// A connection the guard refused.
#[derive(Debug, thiserror::Error)]
#[error("refused by the SSRF guard: {0}")]
pub struct Refused(pub String);

/// Why a URL is not acceptable for an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidUrl(pub String);

/// Checks an endpoint URL: absolute http or https, a host, no user name or password, at most
/// 2048 characters, and no host the guard refuses on sight (an IP literal or `localhost`).
pub fn validate_url(raw: &str, allow_private: bool) -> Result<Url, InvalidUrl> {
    let invalid = |message: &str| InvalidUrl(message.to_owned());
    if raw.len() > 2048 {
        return Err(invalid("must be at most 2048 characters"));
    }
    if !rfc3986_characters(raw) {
        return Err(invalid("must be a URI: printable ASCII only, a % only before two hex digits"));
    }
    let url = Url::parse(raw).map_err(|e| InvalidUrl(format!("is not a valid URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("must use http or https"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("must not carry a user name or password"));
    }
    if url.fragment().is_some() {
        return Err(invalid("must not have a fragment"));
    }
    // A host name is letters, digits and hyphens between dots (the WHATWG parser lets `*` and
    // other characters through, which no DNS name has).
    if let Some(url::Host::Domain(name)) = url.host()
        && !name
            .split('.')
            .all(|label| !label.is_empty() && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    {
        return Err(invalid("must name a host by letters, digits and hyphens between dots"));
    }
    check_host(&url, allow_private).map_err(|refused| InvalidUrl(refused.to_string()))?;
    Ok(url)
}

/// Whether a text holds only what an RFC 3986 URI may: unreserved and reserved characters, and
/// `%` followed by two hex digits (the WHATWG parser would quietly repair anything else).
fn rfc3986_characters(raw: &str) -> bool {
    let bytes = raw.as_bytes();
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'%' => {
                if !bytes.get(index + 1..index + 3).is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit)) {
                    return false;
                }
                index += 3;
            }
            byte if byte.is_ascii_alphanumeric() || b"-._~:/?#[]@!$&'()*+,;=".contains(&byte) => index += 1,
            _ => return false,
        }
    }
    true
}

/// Checks a URL's host when it can be judged without resolving it: an IP literal, or a name
/// that always means this machine (`localhost`).
pub fn check_host(url: &Url, allow_private: bool) -> Result<(), Refused> {
    match url.host() {
        None => Err(Refused("the URL has no host".into())),
        Some(url::Host::Ipv4(ip)) => refusal(IpAddr::V4(ip), allow_private).map_or(Ok(()), |r| Err(Refused(r))),
        Some(url::Host::Ipv6(ip)) => refusal(IpAddr::V6(ip), allow_private).map_or(Ok(()), |r| Err(Refused(r))),
        Some(url::Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            if !allow_private && (name == "localhost" || name.ends_with(".localhost")) {
                return Err(Refused(format!(
                    "{name} is this machine (set {ALLOW_PRIVATE_NETWORKS_VARIABLE}=true to allow private networks)"
                )));
            }
            Ok(())
        }
    }
}

/// The HTTP client's resolver: resolves with the system resolver and keeps only the addresses
/// the guard allows, so the client can only connect to those.
#[derive(Clone, Debug)]
pub struct GuardedResolver {
    pub allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut refused = None;
            let allowed: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|addr| match refusal(addr.ip(), allow_private) {
                    None => true,
                    Some(reason) => {
                        refused.get_or_insert(reason);
                        false
                    }
                })
                .collect();
            if allowed.is_empty() {
                let reason = refused.unwrap_or_else(|| "the name resolves to no address".into());
                return Err(Box::new(Refused(format!("{host}: {reason}"))) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(text: &str) -> bool {
        refusal(text.parse().unwrap(), false).is_some()
    }

    #[test]
    fn private_and_special_addresses_are_refused_by_default() {
        for address in [
            "127.0.0.1",
            "127.255.0.9",
            "10.0.0.1",
            "10.255.255.255",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "0.0.0.0",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "192.0.2.10",
            "198.18.0.1",
            "::1",
            "::",
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "::ffff:8.8.8.8",
            "::127.0.0.1",
            "64:ff9b::a00:1",
            "2002:a00:1::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "100::1",
        ] {
            assert!(refused(address), "{address} must be refused");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for address in ["8.8.8.8", "1.1.1.1", "100.63.255.255", "100.128.0.1", "172.32.0.1", "2606:4700::1111"] {
            assert!(!refused(address), "{address} must pass");
        }
    }

    #[test]
    fn the_switch_allows_private_networks_only() {
        for address in ["127.0.0.1", "10.0.0.1", "169.254.1.1", "100.64.0.1", "::1", "fd00::1", "::ffff:127.0.0.1"] {
            assert_eq!(refusal(address.parse().unwrap(), true), None, "{address}");
        }
        for address in ["0.0.0.0", "224.0.0.1", "255.255.255.255", "ff02::1", "2001:db8::1"] {
            assert!(refusal(address.parse().unwrap(), true).is_some(), "{address}");
        }
        let reason = refusal("10.0.0.1".parse().unwrap(), false).unwrap();
        assert!(reason.contains("private") && reason.contains(ALLOW_PRIVATE_NETWORKS_VARIABLE), "{reason}");
    }

    #[test]
    fn endpoint_urls_are_validated() {
        assert!(validate_url("https://hooks.example.com/paystate?x=1", false).is_ok());
        assert!(validate_url("http://hooks.example.com:8080/in", false).is_ok());
        for garbage in [
            "https://hooks.example.com/?%Y9",
            "https://hooks.example.com/é",
            "https://hooks.example.com/a b",
            "https://hooks.example.com/%2",
        ] {
            assert!(validate_url(garbage, false).is_err(), "{garbage}");
        }
        for bad in [
            "ftp://example.com/",
            "file:///etc/passwd",
            "https://user:pass@example.com/",
            "https://user@example.com/",
            "https://example.com/#frag",
            "not a url",
            "/relative",
            "http://127.0.0.1:8080/",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://10.1.2.3/",
            "http://169.254.169.254/latest/meta-data",
            "http://100.64.1.1/",
            "http://localhost:9000/",
            "http://api.localhost/",
            "http://0.0.0.0/",
        ] {
            assert!(validate_url(bad, false).is_err(), "{bad} must be refused");
        }
        assert!(validate_url("http://127.0.0.1:8080/", true).is_ok());
        assert!(validate_url("http://localhost:9000/", true).is_ok());
        assert!(validate_url(&format!("https://example.com/{}", "a".repeat(2048)), false).is_err());
    }

    #[tokio::test]
    async fn the_resolver_drops_refused_addresses() {
        let guarded = GuardedResolver { allow_private: false };
        let refused = guarded.resolve("localhost".parse::<Name>().unwrap()).await;
        let error = refused.err().expect("localhost resolves to loopback only");
        assert!(error.to_string().contains("refused by the SSRF guard"), "{error}");
        let allowed =
            GuardedResolver { allow_private: true }.resolve("localhost".parse::<Name>().unwrap()).await.unwrap();
        assert!(allowed.into_iter().all(|addr| addr.ip().is_loopback()));
    }
}
