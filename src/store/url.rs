//! Store URLs: which database, and where. The URL picks the dialect.

use std::str::FromStr;
use std::time::Duration;

/// How long connecting may take unless the URL says (`?connect_timeout=SECONDS`).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The SQL dialects dnsmill writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite, the embedded default.
    Sqlite,
    /// PostgreSQL.
    Postgres,
    /// MySQL and MariaDB.
    MySql,
}

/// A parsed store URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreUrl {
    /// Which database.
    pub dialect: Dialect,
    /// The URL as the driver takes it (without dnsmill's own options).
    pub url: String,
    /// How long connecting may take before it fails like a refused connection.
    pub connect_timeout: Duration,
}

impl FromStr for StoreUrl {
    type Err = String;

    /// `sqlite:///abs/path.db`, `sqlite://relative.db` or `sqlite:relative.db`;
    /// `postgresql://…` or `postgres://…`; `mysql://…` or `mariadb://…`.
    fn from_str(text: &str) -> Result<Self, String> {
        let (scheme, rest) = text.split_once(':').ok_or_else(|| {
            format!(
                "'{}' is not a store URL (sqlite:///path, postgresql://…, mysql://…)",
                redact(text)
            )
        })?;
        let dialect = match scheme.to_ascii_lowercase().as_str() {
            "sqlite" => Dialect::Sqlite,
            "postgres" | "postgresql" => Dialect::Postgres,
            "mysql" | "mariadb" => Dialect::MySql,
            other => {
                return Err(format!(
                    "unknown store '{other}' (use sqlite, postgresql or mysql)"
                ))
            }
        };
        let url = match dialect {
            Dialect::MySql => format!("mysql:{rest}"),
            _ => text.to_string(),
        };
        let (url, connect_timeout) = take_connect_timeout(&url)?;
        let parsed = StoreUrl {
            dialect,
            url,
            connect_timeout,
        };
        if parsed.sqlite_path().is_some_and(str::is_empty) {
            // SQLite would quietly open a temporary database and lose everything written.
            return Err(format!(
                "'{text}' names no file (use sqlite:///abs/path.db or sqlite://relative.db)"
            ));
        }
        Ok(parsed)
    }
}

impl StoreUrl {
    /// The file of a SQLite URL.
    pub fn sqlite_path(&self) -> Option<&str> {
        if self.dialect != Dialect::Sqlite {
            return None;
        }
        let rest = &self.url["sqlite:".len()..];
        let path = rest.strip_prefix("//").unwrap_or(rest);
        Some(path.split('?').next().unwrap_or(path))
    }

    /// The URL with any password hidden, for messages.
    pub fn redacted(&self) -> String {
        redact(&self.url)
    }
}

/// `url` without its `connect_timeout` option, and that option's value (seconds).
fn take_connect_timeout(url: &str) -> Result<(String, Duration), String> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_string(), DEFAULT_CONNECT_TIMEOUT));
    };
    let mut timeout = DEFAULT_CONNECT_TIMEOUT;
    let mut kept = Vec::new();
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("connect_timeout", value)) => {
                timeout = value
                    .parse::<f64>()
                    .ok()
                    .filter(|seconds| seconds.is_finite() && *seconds > 0.0 && *seconds <= 3600.0)
                    .map(Duration::from_secs_f64)
                    .ok_or_else(|| {
                        format!("connect_timeout must be a number of seconds from 0 to 3600, not '{value}'")
                    })?;
            }
            _ => kept.push(pair),
        }
    }
    let url = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((url, timeout))
}

/// `scheme://user:secret@host` becomes `scheme://user:***@host`.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.split_once('@') {
        Some((credentials, host)) => match credentials.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// Checks a table name from configuration: a letter or `_`, then letters, digits or `_`, at
/// most 63 characters. Only such names are ever put into SQL text; values are always bound.
pub fn validate_identifier(name: &str) -> Result<&str, String> {
    let mut chars = name.chars();
    let starts_well = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if starts_well && name.len() <= 63 && chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        Ok(name)
    } else {
        Err(format!(
            "'{name}' is not a valid table name (a letter or _, then letters, digits or _, at most 63)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_timeout_is_dnsmills_own_option() {
        let url: StoreUrl = "postgresql://u@h/db?sslmode=disable&connect_timeout=2.5"
            .parse()
            .unwrap();
        assert_eq!(url.url, "postgresql://u@h/db?sslmode=disable");
        assert_eq!(url.connect_timeout, Duration::from_millis(2500));
        let plain: StoreUrl = "sqlite://x.db?connect_timeout=1".parse().unwrap();
        assert_eq!(plain.url, "sqlite://x.db");
        assert_eq!(
            "mysql://h/db".parse::<StoreUrl>().unwrap().connect_timeout,
            DEFAULT_CONNECT_TIMEOUT
        );
        assert!("mysql://h/db?connect_timeout=soon"
            .parse::<StoreUrl>()
            .unwrap_err()
            .contains("connect_timeout"));
        assert!("sqlite://"
            .parse::<StoreUrl>()
            .unwrap_err()
            .contains("names no file"));
    }

    #[test]
    fn urls_pick_the_dialect() {
        let sqlite: StoreUrl = "sqlite:///tmp/x.db".parse().unwrap();
        assert_eq!(
            (sqlite.dialect, sqlite.sqlite_path()),
            (Dialect::Sqlite, Some("/tmp/x.db"))
        );
        assert_eq!(
            "sqlite://rel.db".parse::<StoreUrl>().unwrap().sqlite_path(),
            Some("rel.db")
        );
        assert_eq!(
            "postgresql://u@h/db".parse::<StoreUrl>().unwrap().dialect,
            Dialect::Postgres
        );
        let maria: StoreUrl = "mariadb://root:pw@127.0.0.1/test".parse().unwrap();
        assert_eq!(
            (maria.dialect, maria.url.as_str()),
            (Dialect::MySql, "mysql://root:pw@127.0.0.1/test")
        );
        assert_eq!(maria.redacted(), "mysql://root:***@127.0.0.1/test");
        assert!("oracle://x".parse::<StoreUrl>().is_err());
        assert!("nothing".parse::<StoreUrl>().is_err());
    }

    #[test]
    fn identifiers_are_checked() {
        assert!(validate_identifier("dns_records").is_ok());
        assert!(validate_identifier("_t2").is_ok());
        for bad in ["", "1x", "a-b", "a b", "x;drop table y", "\"q\"", &"x".repeat(64)] {
            assert!(validate_identifier(bad).is_err(), "{bad}");
        }
    }
}
