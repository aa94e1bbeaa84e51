//! Statements with bound values, the same in every dialect but for placeholders (`?`, which
//! PostgreSQL numbers) and timestamps: what the job and coordination tables share.

use sqlx::{AssertSqlSafe, Row};

use super::error::StoreError;
use super::schema::Db;
use super::time::Timestamp;
use super::url::Dialect;

/// A value bound to a statement.
pub(super) enum Param {
    Text(String),
    MaybeText(Option<String>),
    Int(i64),
    Real(f64),
}

/// The `?` placeholders of `sql` as PostgreSQL's `$1, $2, ...`. The SQL here holds no `?`
/// inside literals.
pub(super) fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push_str(&format!("${n}"));
        } else {
            out.push(c);
        }
    }
    out
}

/// A placeholder for a timestamp bound as text.
pub(super) fn time_placeholder(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Postgres => "CAST(? AS TIMESTAMPTZ)",
        Dialect::Sqlite | Dialect::MySql => "?",
    }
}

/// A timestamp as the text `time_placeholder` takes.
pub(super) fn time_text(dialect: Dialect, moment: Timestamp) -> String {
    match dialect {
        Dialect::Postgres => format!("{}+00", moment.text()),
        Dialect::Sqlite | Dialect::MySql => moment.text(),
    }
}

macro_rules! bound {
    ($query:expr, $params:expr) => {{
        let mut query = $query;
        for param in $params {
            query = match param {
                Param::Text(text) => query.bind(text.as_str()),
                Param::MaybeText(text) => query.bind(text.as_deref()),
                Param::Int(value) => query.bind(*value),
                Param::Real(value) => query.bind(*value),
            };
        }
        query
    }};
}

impl Db {
    /// Runs `sql` (with `?` placeholders) with `params`; returns the rows it affected.
    pub(super) async fn run(&mut self, sql: &str, params: &[Param]) -> Result<u64, StoreError> {
        let context = |e: sqlx::Error| {
            let statement = sql.split_whitespace().take(3).collect::<Vec<_>>().join(" ");
            StoreError::from_sqlx(&statement, e)
        };
        match self {
            Db::Sqlite(connection, _) => bound!(sqlx::query(AssertSqlSafe(sql.to_string())), params)
                .execute(connection)
                .await
                .map(|done| done.rows_affected()),
            Db::MySql(connection) => bound!(sqlx::query(AssertSqlSafe(sql.to_string())), params)
                .execute(connection)
                .await
                .map(|done| done.rows_affected()),
            Db::Postgres(connection) => bound!(sqlx::query(AssertSqlSafe(numbered(sql))), params)
                .execute(connection)
                .await
                .map(|done| done.rows_affected()),
        }
        .map_err(context)
    }

    /// Runs every statement in one write transaction (rolled back if one fails); returns the
    /// rows they affected.
    pub(super) async fn run_in_transaction(
        &mut self,
        statements: impl Iterator<Item = (String, Vec<Param>)>,
    ) -> Result<u64, StoreError> {
        let _turn = self.begin_write().await?;
        let mut affected = 0;
        for (sql, params) in statements {
            match self.run(&sql, &params).await {
                Ok(rows) => affected += rows,
                Err(error) => {
                    let _ = self.execute("ROLLBACK").await;
                    return Err(error);
                }
            }
        }
        self.commit().await?;
        Ok(affected)
    }

    /// Rows of (id, name) from `sql` with `params`.
    pub(super) async fn ids_and_names(
        &mut self,
        sql: &str,
        params: &[Param],
    ) -> Result<Vec<(i64, String)>, StoreError> {
        macro_rules! fetch {
            ($connection:expr, $sql:expr) => {
                bound!(sqlx::query(AssertSqlSafe($sql)), params)
                    .fetch_all($connection)
                    .await
                    .and_then(|rows| {
                        rows.iter()
                            .map(|row| Ok((row.try_get::<i64, _>(0)?, row.try_get::<String, _>(1)?)))
                            .collect()
                    })
            };
        }
        match self {
            Db::Sqlite(connection, _) => fetch!(connection, sql.to_string()),
            Db::MySql(connection) => fetch!(connection, sql.to_string()),
            Db::Postgres(connection) => fetch!(connection, numbered(sql)),
        }
        .map_err(|e| StoreError::from_sqlx("reading domains", e))
    }
}

impl Db {
    /// Rows from `sql` with `params`, every column read as text (NULL as None): for the small
    /// coordination tables, whose queries cast what is not text.
    pub(super) async fn text_rows(
        &mut self,
        sql: &str,
        params: &[Param],
    ) -> Result<Vec<Vec<Option<String>>>, StoreError> {
        macro_rules! fetch {
            ($connection:expr, $sql:expr) => {
                bound!(sqlx::query(AssertSqlSafe($sql)), params)
                    .fetch_all($connection)
                    .await
                    .and_then(|rows| {
                        rows.iter()
                            .map(|row| {
                                (0..row.len())
                                    .map(|column| row.try_get::<Option<String>, _>(column))
                                    .collect::<Result<Vec<_>, _>>()
                            })
                            .collect()
                    })
            };
        }
        let context = |e: sqlx::Error| {
            let statement = sql.split_whitespace().take(4).collect::<Vec<_>>().join(" ");
            StoreError::from_sqlx(&statement, e)
        };
        match self {
            Db::Sqlite(connection, _) => fetch!(connection, sql.to_string()),
            Db::MySql(connection) => fetch!(connection, sql.to_string()),
            Db::Postgres(connection) => fetch!(connection, numbered(sql)),
        }
        .map_err(context)
    }
}
