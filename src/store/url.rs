//! Store URLs: which database, and where. The URL picks the dialect.

use std::str::FromStr;
use std::time::Duration;

/// How long connecting may take unless the URL says (`?connect_timeout=SECONDS`).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections a [`crate::store::Writer`] writes on unless the URL says (`?connections=N`).
pub const DEFAULT_WRITER_CONNECTIONS: usize = 2;

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
    /// The longest one statement may run (`?statement_timeout=SECONDS`; None: the server's
    /// setting). On SQLite, the longest wait for another connection's write lock (30 s).
    pub statement_timeout: Option<Duration>,
    /// Connections a writer writes batches on side by side (`?connections=N`, PostgreSQL and
    /// MySQL; SQLite has one writer at a time).
    pub connections: usize,
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
        let (url, options) = take_options(&url)?;
        let parsed = StoreUrl {
            dialect,
            url,
            connect_timeout: options.connect_timeout,
            statement_timeout: options.statement_timeout,
            connections: options.connections,
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

/// dnsmill's own options of a store URL, which the drivers do not see.
struct UrlOptions {
    connect_timeout: Duration,
    statement_timeout: Option<Duration>,
    connections: usize,
}

/// `url` without dnsmill's own options (`connect_timeout`, `statement_timeout`,
/// `connections`), and their values.
fn take_options(url: &str) -> Result<(String, UrlOptions), String> {
    let mut options = UrlOptions {
        connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        statement_timeout: None,
        connections: DEFAULT_WRITER_CONNECTIONS,
    };
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_string(), options));
    };
    let mut kept = Vec::new();
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("connect_timeout", value)) => options.connect_timeout = seconds("connect_timeout", value)?,
            Some(("statement_timeout", value)) => {
                options.statement_timeout = Some(seconds("statement_timeout", value)?);
            }
            Some(("connections", value)) => {
                options.connections = value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=64).contains(n))
                    .ok_or_else(|| {
                        format!("connections must be a whole number from 1 to 64, not '{value}'")
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
    Ok((url, options))
}

/// A URL option in seconds: from a millisecond (the servers' unit: less would round to 0,
/// which turns their limits off) to an hour.
fn seconds(option: &str, value: &str) -> Result<Duration, String> {
    value
        .parse::<f64>()
        .ok()
        .filter(|seconds| seconds.is_finite() && *seconds >= 0.001 && *seconds <= 3600.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("{option} must be a number of seconds from 0.001 to 3600, not '{value}'"))
}

/// `scheme://user:secret@host` becomes `scheme://user:***@host`.
pub(crate) fn redact(url: &str) -> String {
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
/// most 63 characters, and not a word SQLite, PostgreSQL or MySQL reserve. Only such names are
/// ever put into SQL text (unquoted, the same in every dialect); values are always bound.
pub fn validate_identifier(name: &str) -> Result<&str, String> {
    let mut chars = name.chars();
    let starts_well = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !(starts_well && name.len() <= 63 && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')) {
        return Err(format!(
            "'{name}' is not a valid table name (a letter or _, then letters, digits or _, at most 63)"
        ));
    }
    if RESERVED_WORDS
        .binary_search(&name.to_ascii_lowercase().as_str())
        .is_ok()
    {
        return Err(format!(
            "'{name}' is a reserved word in SQL and cannot name a table (try dns_{name})"
        ));
    }
    Ok(name)
}

/// Words reserved by SQLite, PostgreSQL or MySQL (sorted, for binary search).
const RESERVED_WORDS: &[&str] = &[
    "abort",
    "accessible",
    "action",
    "add",
    "after",
    "all",
    "alter",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asensitive",
    "asymmetric",
    "attach",
    "authorization",
    "autoincrement",
    "before",
    "begin",
    "between",
    "bigint",
    "binary",
    "blob",
    "both",
    "by",
    "call",
    "cascade",
    "case",
    "change",
    "char",
    "character",
    "check",
    "collate",
    "collation",
    "column",
    "commit",
    "concurrently",
    "condition",
    "conflict",
    "constraint",
    "continue",
    "convert",
    "create",
    "cross",
    "cube",
    "cume_dist",
    "current_catalog",
    "current_date",
    "current_role",
    "current_schema",
    "current_time",
    "current_timestamp",
    "current_user",
    "cursor",
    "database",
    "databases",
    "day_hour",
    "day_microsecond",
    "day_minute",
    "day_second",
    "dec",
    "decimal",
    "declare",
    "default",
    "deferrable",
    "deferred",
    "delayed",
    "delete",
    "dense_rank",
    "desc",
    "describe",
    "detach",
    "deterministic",
    "distinct",
    "distinctrow",
    "div",
    "do",
    "double",
    "drop",
    "dual",
    "each",
    "else",
    "elseif",
    "empty",
    "enclosed",
    "end",
    "escaped",
    "except",
    "exclusive",
    "exists",
    "exit",
    "explain",
    "fail",
    "false",
    "fetch",
    "first_value",
    "float",
    "float4",
    "float8",
    "for",
    "force",
    "foreign",
    "freeze",
    "from",
    "full",
    "fulltext",
    "function",
    "generated",
    "get",
    "glob",
    "grant",
    "group",
    "grouping",
    "groups",
    "having",
    "high_priority",
    "hour_microsecond",
    "hour_minute",
    "hour_second",
    "if",
    "ignore",
    "ilike",
    "immediate",
    "in",
    "index",
    "indexed",
    "infile",
    "initially",
    "inner",
    "inout",
    "insensitive",
    "insert",
    "instead",
    "int",
    "int1",
    "int2",
    "int3",
    "int4",
    "int8",
    "integer",
    "intersect",
    "interval",
    "into",
    "io_after_gtids",
    "io_before_gtids",
    "is",
    "isnull",
    "iterate",
    "join",
    "json_table",
    "key",
    "keys",
    "kill",
    "lag",
    "last_value",
    "lateral",
    "lead",
    "leading",
    "leave",
    "left",
    "like",
    "limit",
    "linear",
    "lines",
    "load",
    "localtime",
    "localtimestamp",
    "lock",
    "long",
    "longblob",
    "longtext",
    "loop",
    "low_priority",
    "master_bind",
    "master_ssl_verify_server_cert",
    "match",
    "maxvalue",
    "mediumblob",
    "mediumint",
    "mediumtext",
    "middleint",
    "minute_microsecond",
    "minute_second",
    "mod",
    "modifies",
    "natural",
    "no_write_to_binlog",
    "not",
    "nothing",
    "notnull",
    "nth_value",
    "ntile",
    "null",
    "numeric",
    "of",
    "offset",
    "on",
    "only",
    "optimize",
    "optimizer_costs",
    "option",
    "optionally",
    "or",
    "order",
    "out",
    "outer",
    "outfile",
    "over",
    "overlaps",
    "partition",
    "percent_rank",
    "placing",
    "plan",
    "pragma",
    "precision",
    "primary",
    "procedure",
    "purge",
    "query",
    "raise",
    "range",
    "rank",
    "read",
    "read_write",
    "reads",
    "real",
    "recursive",
    "references",
    "regexp",
    "reindex",
    "release",
    "rename",
    "repeat",
    "replace",
    "require",
    "resignal",
    "restrict",
    "return",
    "returning",
    "revoke",
    "right",
    "rlike",
    "rollback",
    "row",
    "row_number",
    "rows",
    "savepoint",
    "schema",
    "schemas",
    "second_microsecond",
    "select",
    "sensitive",
    "separator",
    "session_user",
    "set",
    "show",
    "signal",
    "similar",
    "smallint",
    "some",
    "spatial",
    "specific",
    "sql",
    "sql_big_result",
    "sql_calc_found_rows",
    "sql_small_result",
    "sqlexception",
    "sqlstate",
    "sqlwarning",
    "ssl",
    "starting",
    "stored",
    "straight_join",
    "symmetric",
    "system",
    "table",
    "tablesample",
    "temp",
    "temporary",
    "terminated",
    "then",
    "tinyblob",
    "tinyint",
    "tinytext",
    "to",
    "trailing",
    "transaction",
    "trigger",
    "true",
    "undo",
    "union",
    "unique",
    "unlock",
    "unsigned",
    "update",
    "usage",
    "use",
    "user",
    "using",
    "utc_date",
    "utc_time",
    "utc_timestamp",
    "vacuum",
    "values",
    "varbinary",
    "varchar",
    "varcharacter",
    "variadic",
    "varying",
    "verbose",
    "view",
    "virtual",
    "when",
    "where",
    "while",
    "window",
    "with",
    "without",
    "write",
    "xor",
    "year_month",
    "zerofill",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_are_plain_identifiers_and_not_reserved_words() {
        assert!(
            RESERVED_WORDS.windows(2).all(|pair| pair[0] < pair[1]),
            "sorted, no repeats"
        );
        assert_eq!(validate_identifier("dns_records"), Ok("dns_records"));
        assert_eq!(validate_identifier("_x1"), Ok("_x1"));
        for bad in ["1x", "a-b", "a b", "", "x;drop"] {
            assert!(
                validate_identifier(bad)
                    .unwrap_err()
                    .contains("not a valid table name"),
                "{bad}"
            );
        }
        for word in ["select", "ORDER", "Table", "user", "group", "index", "key"] {
            assert!(
                validate_identifier(word).unwrap_err().contains("reserved word"),
                "{word}"
            );
        }
    }

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
    fn statement_timeout_and_connections_are_dnsmills_own_options() {
        let url: StoreUrl = "postgresql://u@h/db?statement_timeout=30&sslmode=require&connections=4"
            .parse()
            .unwrap();
        assert_eq!(url.url, "postgresql://u@h/db?sslmode=require");
        assert_eq!(url.statement_timeout, Some(Duration::from_secs(30)));
        assert_eq!(url.connections, 4);
        let plain: StoreUrl = "mysql://h/db".parse().unwrap();
        assert_eq!(
            (plain.statement_timeout, plain.connections),
            (None, DEFAULT_WRITER_CONNECTIONS)
        );
        for (bad, option) in [
            ("statement_timeout=0", "statement_timeout"),
            ("statement_timeout=-1", "statement_timeout"),
            ("statement_timeout=0.0001", "statement_timeout"),
            ("connections=0", "connections"),
            ("connections=65", "connections"),
            ("connections=two", "connections"),
        ] {
            let error = format!("postgresql://h/db?{bad}")
                .parse::<StoreUrl>()
                .unwrap_err();
            assert!(error.starts_with(option), "{bad}: {error}");
        }
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
