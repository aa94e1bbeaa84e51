//! How a resolver runs: its nameservers, limits and timers.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// Settings of one resolver. The defaults are fast without tuning: the in-flight window adapts
/// to what the nameservers sustain, up to `concurrency`.
#[derive(Debug, Clone)]
pub struct ResolverConfig {
    /// Where queries go; retries move on to the next one.
    pub nameservers: Vec<SocketAddr>,
    /// Most queries in flight at once (the ceiling of the adaptive window).
    pub concurrency: usize,
    /// Longest wait for the reply to one try.
    pub timeout: Duration,
    /// Further tries after the first.
    pub retries: u32,
    /// Most queries sent per second, overall.
    pub qps: Option<f64>,
    /// Most queries sent per second to any one nameserver.
    pub per_server_qps: Option<f64>,
    /// Repeat truncated answers over TCP.
    pub tcp_fallback: bool,
    /// Treat SERVFAIL and REFUSED as a failed try, to be retried at the next nameserver.
    pub retry_servfail: bool,
    /// EDNS0 payload size advertised (RFC 6891; 1232 avoids fragmentation).
    pub edns_payload: u16,
    /// UDP sockets, each with its own source port and share of the window.
    pub sockets: usize,
}

impl Default for ResolverConfig {
    fn default() -> Self {
        ResolverConfig {
            nameservers: Vec::new(),
            concurrency: 10_000,
            timeout: Duration::from_secs(2),
            retries: 2,
            qps: None,
            per_server_qps: None,
            tcp_fallback: true,
            retry_servfail: true,
            edns_payload: 1232,
            sockets: 4,
        }
    }
}

/// Reads `IP`, `IP:PORT` or `[IPv6]:PORT` (port 53 when not given).
pub fn parse_nameserver(text: &str) -> Result<SocketAddr, String> {
    let text = text.trim();
    if let Ok(address) = text.parse::<SocketAddr>() {
        return Ok(address);
    }
    if let Ok(ip) = text
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        return Ok(SocketAddr::new(ip, 53));
    }
    Err(format!(
        "'{text}' is not a nameserver address (IP, IP:PORT or [IPv6]:PORT)"
    ))
}

/// The nameservers of the system configuration (`/etc/resolv.conf`).
pub fn system_nameservers() -> Result<Vec<SocketAddr>, String> {
    let (config, _) = hickory_resolver::system_conf::read_system_conf()
        .map_err(|error| format!("cannot read the system resolver configuration: {error}"))?;
    let servers: Vec<SocketAddr> = config
        .name_servers()
        .iter()
        .map(|server| {
            let port = server
                .connections
                .first()
                .map_or(53, |connection| connection.port);
            SocketAddr::new(server.ip, port)
        })
        .collect();
    if servers.is_empty() {
        return Err("the system resolver configuration names no nameserver".into());
    }
    Ok(servers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nameserver_forms() {
        assert_eq!(
            parse_nameserver("127.0.0.1").unwrap(),
            "127.0.0.1:53".parse().unwrap()
        );
        assert_eq!(
            parse_nameserver("127.0.0.1:5300").unwrap(),
            "127.0.0.1:5300".parse().unwrap()
        );
        assert_eq!(parse_nameserver("::1").unwrap(), "[::1]:53".parse().unwrap());
        assert_eq!(
            parse_nameserver("[::1]:5300").unwrap(),
            "[::1]:5300".parse().unwrap()
        );
        assert!(parse_nameserver("ns.example").is_err());
    }
}
