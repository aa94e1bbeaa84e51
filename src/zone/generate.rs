//! BIND's `$GENERATE` directive: ranges and `$`/`${offset,width,base}` templates.

use std::fmt::Write as _;

use crate::record::fields::Field;

/// `start-stop[/step]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct GenerateRange {
    start: u64,
    stop: u64,
    step: u64,
}

impl GenerateRange {
    /// Parses a range; `start` must not exceed `stop`, `step` must be positive.
    pub(super) fn parse(text: &[u8]) -> Result<Self, String> {
        let text = std::str::from_utf8(text).map_err(|_| "range is not ASCII".to_string())?;
        let (bounds, step) = match text.split_once('/') {
            Some((bounds, step)) => (bounds, step),
            None => (text, "1"),
        };
        let (start, stop) = bounds
            .split_once('-')
            .ok_or_else(|| format!("range must be start-stop[/step], not '{text}'"))?;
        let number = |part: &str| {
            part.parse::<u32>()
                .map(u64::from)
                .map_err(|_| format!("'{part}' is not a number from 0 to {}", u32::MAX))
        };
        let (start, stop, step) = (number(start)?, number(stop)?, number(step)?);
        if start > stop {
            return Err(format!("start {start} is after stop {stop}"));
        }
        if step == 0 {
            return Err("step must be at least 1".into());
        }
        Ok(GenerateRange { start, stop, step })
    }

    /// How many values the range holds.
    pub(super) fn count(&self) -> u64 {
        (self.stop - self.start) / self.step + 1
    }

    /// The values, in order.
    pub(super) fn values(&self) -> impl Iterator<Item = u64> {
        (self.start..=self.stop).step_by(self.step as usize)
    }
}

/// Substitutes `value` into a template: `$` is the value, `${offset[,width[,base]]}` a
/// formatted one, `$$` a literal `$`; escapes are copied as they are.
pub(super) fn expand_template(template: &[u8], value: u64, out: &mut Vec<u8>) -> Result<(), String> {
    let mut i = 0;
    while i < template.len() {
        match template[i] {
            b'\\' => {
                out.push(b'\\');
                if let Some(&next) = template.get(i + 1) {
                    out.push(next);
                }
                i += 2;
            }
            b'$' if template.get(i + 1) == Some(&b'$') => {
                out.push(b'$');
                i += 2;
            }
            b'$' if template.get(i + 1) == Some(&b'{') => {
                let close = template[i + 2..]
                    .iter()
                    .position(|&b| b == b'}')
                    .ok_or_else(|| "'${' without a closing '}'".to_string())?;
                let modifier = std::str::from_utf8(&template[i + 2..i + 2 + close])
                    .map_err(|_| "modifier is not ASCII".to_string())?;
                push_modified(modifier, value, out)?;
                i += close + 3;
            }
            b'$' => {
                let mut digits = String::new();
                let _ = write!(digits, "{value}");
                out.extend_from_slice(digits.as_bytes());
                i += 1;
            }
            other => {
                out.push(other);
                i += 1;
            }
        }
    }
    Ok(())
}

fn push_modified(modifier: &str, value: u64, out: &mut Vec<u8>) -> Result<(), String> {
    let mut parts = modifier.split(',');
    let offset: i64 = parts
        .next()
        .unwrap_or("0")
        .trim()
        .parse()
        .map_err(|_| format!("bad offset in '${{{modifier}}}'"))?;
    let width: usize = match parts.next() {
        Some(width) => width
            .trim()
            .parse()
            .ok()
            .filter(|w| *w <= 255)
            .ok_or_else(|| format!("bad width in '${{{modifier}}}'"))?,
        None => 0,
    };
    let base = parts.next().map(str::trim).unwrap_or("d");
    if parts.next().is_some() {
        return Err(format!("too many parts in '${{{modifier}}}'"));
    }
    let shifted = i128::from(value) + i128::from(offset);
    let shifted = u64::try_from(shifted).map_err(|_| format!("'${{{modifier}}}' makes {value} negative"))?;
    let mut text = String::new();
    match base {
        "d" => write!(text, "{shifted:0width$}"),
        "o" => write!(text, "{shifted:0width$o}"),
        "x" => write!(text, "{shifted:0width$x}"),
        "X" => write!(text, "{shifted:0width$X}"),
        "n" | "N" => {
            push_nibbles(shifted, width, base == "N", &mut text);
            Ok(())
        }
        other => {
            return Err(format!(
                "unknown base '{other}' in '${{{modifier}}}' (use d, o, x, X, n or N)"
            ))
        }
    }
    .map_err(|_| "formatting failed".to_string())?;
    out.extend_from_slice(text.as_bytes());
    Ok(())
}

/// Reverse-nibble form (`4.3.2.1` for 0x1234), padded with dot-separated zeros until it is at
/// least `width` characters, as BIND does for ip6.arpa names.
fn push_nibbles(mut value: u64, width: usize, upper: bool, out: &mut String) {
    let digits: &[u8; 16] = if upper {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    let mut remaining = width as i64;
    loop {
        out.push(char::from(digits[(value & 0xf) as usize]));
        value >>= 4;
        remaining -= 1;
        if value == 0 && remaining <= 0 {
            return;
        }
        out.push('.');
        remaining -= 1;
        if value == 0 && remaining <= 0 {
            return;
        }
    }
}

/// Splits expanded rdata text into fields the rdata parser reads (quotes and escapes kept the
/// way the zone lexer keeps them). All fields report the template's position.
pub(super) fn split_template_fields(text: &[u8], line: u32, column: u32) -> Result<Vec<Field<'_>>, String> {
    let mut fields = Vec::new();
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b' ' | b'\t' => i += 1,
            b'"' => {
                let start = i + 1;
                let mut j = start;
                while j < text.len() && text[j] != b'"' {
                    j += if text[j] == b'\\' { 2 } else { 1 };
                }
                if j >= text.len() {
                    return Err("quoted string is not closed".into());
                }
                fields.push(Field {
                    text: &text[start..j],
                    quoted: true,
                    line,
                    column,
                });
                i = j + 1;
            }
            _ => {
                let start = i;
                while i < text.len() && !matches!(text[i], b' ' | b'\t') {
                    i += if text[i] == b'\\' { 2 } else { 1 };
                }
                fields.push(Field {
                    text: &text[start..i.min(text.len())],
                    quoted: false,
                    line,
                    column,
                });
            }
        }
    }
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(template: &str, value: u64) -> String {
        let mut out = Vec::new();
        expand_template(template.as_bytes(), value, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn templates_follow_bind() {
        assert_eq!(expand("host$", 3), "host3");
        assert_eq!(expand("a${0,3,d}", 2), "a002");
        assert_eq!(expand("b${5,4,x}", 2), "b0007");
        assert_eq!(expand("c${0,0,X}", 10), "cA");
        assert_eq!(expand("d${-5,2,o}", 10), "d05");
        assert_eq!(expand("${0,3,n}", 250), "a.f");
        assert_eq!(expand("${0,4,N}", 250), "A.F.");
        assert_eq!(expand("${0,6,n}|${0,8,n}", 0x1234), "4.3.2.1|4.3.2.1.");
        assert_eq!(expand("$$ \\$", 1), "$ \\$");
    }

    #[test]
    fn ranges_and_bad_modifiers() {
        let range = GenerateRange::parse(b"0-10/5").unwrap();
        assert_eq!(range.values().collect::<Vec<_>>(), [0, 5, 10]);
        assert_eq!(range.count(), 3);
        assert!(GenerateRange::parse(b"5-1").is_err());
        assert!(GenerateRange::parse(b"1-5/0").is_err());
        let mut out = Vec::new();
        assert!(expand_template(b"${0,1,q}", 1, &mut out).is_err());
        assert!(expand_template(b"${-5}", 1, &mut out).is_err());
        assert!(expand_template(b"${0", 1, &mut out).is_err());
    }
}
