//! A domain's outcome from its resolution results: what the `domains` table records.

use std::collections::HashMap;

use crate::resolve::{ResultTable, Status};
use crate::store::domains::{status, Outcome};

/// Each queried name's outcome: `resolved` when any type got an answer or NODATA,
/// `nxdomain` when the name does not exist, else `failed` with what went wrong.
pub fn outcomes(results: &ResultTable) -> Vec<(String, Outcome)> {
    #[derive(Default)]
    struct Seen {
        answered: bool,
        nxdomain: bool,
        failures: Vec<String>,
    }
    let mut order: Vec<&str> = Vec::new();
    let mut by_name: HashMap<&str, Seen> = HashMap::new();
    for row in &results.rows {
        let name = results.name(row);
        let seen = by_name.entry(name).or_insert_with(|| {
            order.push(name);
            Seen::default()
        });
        match row.status {
            Status::NoError | Status::NoData => seen.answered = true,
            Status::NxDomain => seen.nxdomain = true,
            other => {
                let mut failure = format!("{} {}", row.qtype, other.as_str());
                if let Some(detail) = results.detail(row) {
                    failure.push_str(&format!(" ({detail})"));
                }
                seen.failures.push(failure);
            }
        }
    }
    order
        .into_iter()
        .map(|name| {
            let seen = &by_name[name];
            let outcome = if seen.answered {
                Outcome {
                    status: status::RESOLVED,
                    error: None,
                }
            } else if seen.nxdomain {
                Outcome {
                    status: status::NXDOMAIN,
                    error: None,
                }
            } else {
                Outcome {
                    status: status::FAILED,
                    error: Some(seen.failures.join(", ")),
                }
            };
            (name.to_string(), outcome)
        })
        .collect()
}
