//! IPv4 and IPv6 addresses in presentation form, both ways, without the formatting machinery:
//! A and AAAA records are most of a typical zone.

use super::fields::{parse_decimal, push_ascii};

/// Dotted-quad IPv4, strict: four decimal octets without leading zeros (as `inet_pton`).
pub fn parse_ipv4(text: &[u8]) -> Option<[u8; 4]> {
    let mut octets = [0u8; 4];
    let mut parts = text.split(|&b| b == b'.');
    for octet in &mut octets {
        let part = parts.next()?;
        if part.is_empty() || part.len() > 3 || (part.len() > 1 && part[0] == b'0') {
            return None;
        }
        *octet = u8::try_from(parse_decimal(part, 255)?).ok()?;
    }
    parts.next().is_none().then_some(octets)
}

/// Appends a dotted quad.
pub fn push_ipv4(octets: [u8; 4], out: &mut String) {
    let mut text = [0u8; 15];
    let mut len = 0;
    for (i, octet) in octets.into_iter().enumerate() {
        if i > 0 {
            text[len] = b'.';
            len += 1;
        }
        if octet >= 100 {
            text[len] = b'0' + octet / 100;
            len += 1;
        }
        if octet >= 10 {
            text[len] = b'0' + octet / 10 % 10;
            len += 1;
        }
        text[len] = b'0' + octet % 10;
        len += 1;
    }
    push_ascii(out, &text[..len]);
}

/// IPv6 text (RFC 4291 2.2): up to eight groups of one to four hex digits, at most one `::`,
/// and optionally a dotted quad for the last 32 bits.
pub fn parse_ipv6(text: &[u8]) -> Option<[u8; 16]> {
    let (head, tail) = match memchr::memmem::find(text, b"::") {
        Some(at) => (&text[..at], Some(&text[at + 2..])),
        None => (text, None),
    };
    let mut groups = [0u16; 8];
    let head_count = parse_groups(head, &mut groups, tail.is_none())?;
    let Some(tail) = tail else {
        return (head_count == 8).then(|| to_octets(groups));
    };
    let mut tail_groups = [0u16; 8];
    let tail_count = parse_groups(tail, &mut tail_groups, true)?;
    // "::" stands for at least one group of zeros.
    if head_count + tail_count > 7 {
        return None;
    }
    groups[8 - tail_count..].copy_from_slice(&tail_groups[..tail_count]);
    Some(to_octets(groups))
}

/// Parses colon-separated groups into `groups`; a dotted quad may end them when `last` (the
/// part that ends the address). Returns how many groups were filled.
fn parse_groups(text: &[u8], groups: &mut [u16; 8], last: bool) -> Option<usize> {
    if text.is_empty() {
        return Some(0);
    }
    let mut count = 0;
    let mut parts = text.split(|&b| b == b':').peekable();
    while let Some(part) = parts.next() {
        if last && parts.peek().is_none() && part.contains(&b'.') {
            let [a, b, c, d] = parse_ipv4(part)?;
            if count > 6 {
                return None;
            }
            groups[count] = u16::from_be_bytes([a, b]);
            groups[count + 1] = u16::from_be_bytes([c, d]);
            return Some(count + 2);
        }
        if part.is_empty() || part.len() > 4 || count == 8 {
            return None;
        }
        let mut value = 0u16;
        for &digit in part {
            value = value << 4 | u16::from(hex_value(digit)?);
        }
        groups[count] = value;
        count += 1;
    }
    Some(count)
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

fn to_octets(groups: [u16; 8]) -> [u8; 16] {
    let mut octets = [0u8; 16];
    for (pair, group) in octets.chunks_exact_mut(2).zip(groups) {
        pair.copy_from_slice(&group.to_be_bytes());
    }
    octets
}

/// Appends an IPv6 address as `inet_ntop` writes it (and so as BIND prints it): lowercase hex
/// without leading zeros, the longest run of two or more zero groups (the first of equals)
/// as `::`, and IPv4-compatible and IPv4-mapped addresses with a dotted quad.
pub fn push_ipv6(octets: [u8; 16], out: &mut String) {
    let mut groups = [0u16; 8];
    for (group, pair) in groups.iter_mut().zip(octets.chunks_exact(2)) {
        *group = u16::from_be_bytes([pair[0], pair[1]]);
    }
    let (mut zeros_at, mut zeros_len) = (usize::MAX, 0);
    let mut at = 0;
    while at < 8 {
        let run = groups[at..].iter().take_while(|&&group| group == 0).count();
        if run > zeros_len {
            (zeros_at, zeros_len) = (at, run);
        }
        at += run.max(1);
    }
    if zeros_len < 2 {
        zeros_at = usize::MAX;
    }
    let embedded_ipv4 = zeros_at == 0 && (zeros_len == 6 || (zeros_len == 5 && groups[5] == 0xffff));
    let mut text = [0u8; 45];
    let mut len = 0;
    let mut index = 0;
    while index < 8 {
        if index == zeros_at {
            text[len] = b':';
            len += 1;
            index += zeros_len;
            if index == 8 {
                text[len] = b':';
                len += 1;
            }
            continue;
        }
        if index > 0 {
            text[len] = b':';
            len += 1;
        }
        if embedded_ipv4 && index == 6 {
            push_ascii(out, &text[..len]);
            push_ipv4([octets[12], octets[13], octets[14], octets[15]], out);
            return;
        }
        len += put_hex_group(groups[index], &mut text[len..]);
        index += 1;
    }
    push_ascii(out, &text[..len]);
}

fn put_hex_group(group: u16, dst: &mut [u8]) -> usize {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digits = (4 - group.leading_zeros() as usize / 4).max(1);
    for (i, slot) in dst[..digits].iter_mut().enumerate() {
        let shift = 4 * (digits - 1 - i);
        *slot = HEX[usize::from(group >> shift & 0xf)];
    }
    digits
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use proptest::prelude::*;

    use super::*;

    fn ipv6_text(octets: [u8; 16]) -> String {
        let mut out = String::new();
        push_ipv6(octets, &mut out);
        out
    }

    #[test]
    fn ipv6_is_written_as_inet_ntop_writes_it() {
        for (text, expected) in [
            ("::", "::"),
            ("::1", "::1"),
            ("1::", "1::"),
            ("2001:DB8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),
            ("2001:db8:0:1:0:0:0:1e30", "2001:db8:0:1::1e30"),
            ("2001:db8::1:0", "2001:db8::1:0"),
            ("1:0:1:0:1:0:1:0", "1:0:1:0:1:0:1:0"),
            ("::ffff:192.0.2.1", "::ffff:192.0.2.1"),
            ("::192.0.2.1", "::192.0.2.1"),
            ("::0.0.0.2", "::2"),
            ("fe80::0102:0304", "fe80::102:304"),
        ] {
            let octets = parse_ipv6(text.as_bytes()).unwrap_or_else(|| panic!("{text}"));
            assert_eq!(ipv6_text(octets), expected, "{text}");
        }
        for bad in [
            "",
            ":",
            ":::",
            "1:2:3:4:5:6:7",
            "1:2:3:4:5:6:7:8:9",
            "1::2::3",
            "12345::",
            "::g",
            "1:2:3:4:5:6:7::8",
            "1.2.3.4::",
            "::1.2.3",
        ] {
            assert_eq!(parse_ipv6(bad.as_bytes()), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn ipv6_text_agrees_with_std(octets in any::<[u8; 16]>(), zero_mask in any::<u8>()) {
            let mut octets = octets;
            for group in 0..8 {
                if zero_mask & (1 << group) != 0 {
                    octets[2 * group] = 0;
                    octets[2 * group + 1] = 0;
                }
            }
            let address = Ipv6Addr::from(octets);
            let text = ipv6_text(octets);
            // std writes IPv4-compatible addresses in hex; inet_ntop uses a dotted quad.
            if !text.contains('.') || text.starts_with("::ffff:") {
                prop_assert_eq!(&text, &address.to_string());
            }
            prop_assert_eq!(parse_ipv6(text.as_bytes()), Some(octets));
            prop_assert_eq!(parse_ipv6(address.to_string().as_bytes()), Some(octets));
        }

        #[test]
        fn ipv6_parsing_agrees_with_std(text in "[0-9a-fA-F:.]{0,24}") {
            let ours = parse_ipv6(text.as_bytes());
            let std = text.parse::<Ipv6Addr>().ok().map(|a| a.octets());
            prop_assert_eq!(ours, std);
        }

        #[test]
        fn ipv4_agrees_with_std(octets in any::<[u8; 4]>(), text in "[0-9.]{0,16}") {
            let mut out = String::new();
            push_ipv4(octets, &mut out);
            prop_assert_eq!(&out, &Ipv4Addr::from(octets).to_string());
            prop_assert_eq!(parse_ipv4(text.as_bytes()), text.parse::<Ipv4Addr>().ok().map(|a| a.octets()));
        }
    }
}
