//! Processors: what a message means, as rows. Each reads one message and returns its rows, or
//! the reason it cannot (the message is then dead-lettered with that reason). They know
//! nothing of NATS or of tables; the engine batches their rows into the table of their output.
//!
//! - `records`: DNS records, as JSON (`{name, type, ttl, rdata}`, a list of them, or
//!   `{"records": [...]}`) or as zone text, into the records table in its canonical form;
//! - `results`: resolution results (`{domain, status, error?, records: [...]}`, a list of them,
//!   or `{"results": [...]}`), into the records table and the domains' outcomes;
//! - `events`: CloudEvents JSON and dnsmill's own bus events, into the events table.
//!
//! A processor of another format is a [`Custom`] one: registered from Python, it turns a batch
//! of messages into records or events, and the engine does the rest.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::record::name::domain_name;
use crate::record::RecordSet;
use crate::store::domains::{status, Outcome};
use crate::store::events::{event_key, EventRow, EventTime};
use crate::zone::{parse_bytes, ParseFailure, ParseOptions};

/// What one message is, for the table it goes to.
#[derive(Debug)]
pub enum Rows {
    /// Records, and the outcomes of the domains they answer (for results).
    Records {
        /// The records, canonical.
        records: RecordSet,
        /// (domain, outcome) pairs.
        outcomes: Vec<(String, Outcome)>,
    },
    /// Events.
    Events(Vec<EventRow>),
}

/// The table a processor's rows go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// The records table (and the domains table, for outcomes).
    Records,
    /// The events table.
    Events,
}

/// A message as a processor sees it.
#[derive(Debug, Clone, Copy)]
pub struct MessageView<'a> {
    /// Its subject.
    pub subject: &'a str,
    /// Its body.
    pub payload: &'a [u8],
    /// Its `Nats-Msg-Id` header, when it has one.
    pub msg_id: Option<&'a str>,
    /// The stream it was read from.
    pub stream: &'a str,
    /// Its sequence there.
    pub sequence: u64,
}

/// A processor written elsewhere (in Python): a batch of messages in, one result per message
/// out, in order.
pub trait Custom: Send + Sync {
    /// Where its rows go.
    fn output(&self) -> Output;
    /// The rows of each message, or why it has none.
    fn process(&self, messages: &[MessageView<'_>]) -> Vec<Result<Rows, String>>;
}

/// A route's processor.
#[derive(Clone)]
pub enum Processor {
    /// DNS records.
    Records,
    /// Resolution results.
    Results,
    /// CloudEvents and dnsmill's events.
    Events,
    /// One registered from Python, by name.
    Custom(String, Arc<dyn Custom>),
}

impl std::fmt::Debug for Processor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Processor {
    /// The built-in processor called `name`.
    pub fn built_in(name: &str) -> Option<Processor> {
        match name {
            "records" => Some(Processor::Records),
            "results" => Some(Processor::Results),
            "events" => Some(Processor::Events),
            _ => None,
        }
    }

    /// Its name, as routes give it.
    pub fn name(&self) -> &str {
        match self {
            Processor::Records => "records",
            Processor::Results => "results",
            Processor::Events => "events",
            Processor::Custom(name, _) => name,
        }
    }

    /// Where its rows go.
    pub fn output(&self) -> Output {
        match self {
            Processor::Records | Processor::Results => Output::Records,
            Processor::Events => Output::Events,
            Processor::Custom(_, custom) => custom.output(),
        }
    }

    /// The rows of each message, in order.
    pub fn process(&self, messages: &[MessageView<'_>]) -> Vec<Result<Rows, String>> {
        match self {
            Processor::Records => messages.iter().map(|message| records(message.payload)).collect(),
            Processor::Results => messages.iter().map(|message| results(message.payload)).collect(),
            Processor::Events => messages
                .iter()
                .map(|message| event(message).map(|row| Rows::Events(vec![row])))
                .collect(),
            Processor::Custom(_, custom) => {
                let mut processed = custom.process(messages);
                // A processor that returns too few results has not said what became of the
                // rest: they are dead-lettered saying so, never dropped.
                processed.truncate(messages.len());
                while processed.len() < messages.len() {
                    processed.push(Err(format!(
                        "the {} processor returned no result for this message",
                        self.name()
                    )));
                }
                processed
            }
        }
    }
}

/// A record as JSON gives it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonRecord {
    name: String,
    #[serde(rename = "type")]
    rtype: String,
    ttl: u32,
    rdata: String,
    #[serde(default)]
    class: Option<String>,
}

/// The records of a message: JSON or zone text.
pub fn records(payload: &[u8]) -> Result<Rows, String> {
    let records = match first_byte(payload) {
        Some(b'{' | b'[') => {
            let value: Value = serde_json::from_slice(payload).map_err(|e| format!("not JSON: {e}"))?;
            let list = match value {
                Value::Object(mut object) if object.contains_key("records") && object.len() == 1 => {
                    object.remove("records").unwrap_or(Value::Null)
                }
                other => other,
            };
            json_records(list)?
        }
        Some(_) => zone_text(payload)?,
        None => return Err("an empty message".into()),
    };
    Ok(Rows::Records {
        records,
        outcomes: Vec::new(),
    })
}

fn first_byte(payload: &[u8]) -> Option<u8> {
    payload.iter().copied().find(|byte| !byte.is_ascii_whitespace())
}

/// Records from a JSON record or a list of them, checked and made canonical by the zone parser
/// (names lacking the final dot are absolute, as in tables).
pub fn json_records(value: Value) -> Result<RecordSet, String> {
    let list = match value {
        Value::Array(list) => list,
        object @ Value::Object(_) => vec![object],
        _ => return Err("records must be a JSON object or a list of them".into()),
    };
    let mut text = String::with_capacity(list.len() * 64);
    for (index, item) in list.into_iter().enumerate() {
        let at = |problem: String| format!("record {}: {problem}", index + 1);
        let record: JsonRecord = serde_json::from_value(item).map_err(|e| at(e.to_string()))?;
        let class = record.class.as_deref().unwrap_or("IN");
        for (field, value) in [
            ("name", &record.name),
            ("type", &record.rtype),
            ("class", &class.to_string()),
        ] {
            if value.is_empty()
                || value.contains(|c: char| c.is_whitespace() || c == ';' || c == '(' || c == ')')
            {
                return Err(at(format!("{field} {value:?} is not one word")));
            }
        }
        // One line per record: a line break inside the rdata would make a second one.
        if record.rdata.contains(['\n', '\r']) {
            return Err(at("rdata holds a line break".into()));
        }
        if record.name.starts_with('$') {
            return Err(at(format!("name {:?} is not a domain name", record.name)));
        }
        text.push_str(&format!(
            "{} {} {class} {} {}\n",
            record.name, record.ttl, record.rtype, record.rdata
        ));
    }
    if text.is_empty() {
        return Err("no records".into());
    }
    let options = ParseOptions {
        origin: Some(".".into()),
        ..ParseOptions::default()
    };
    parse_bytes(text.as_bytes(), "<message>".into(), None, &options)
        .map(|parsed| parsed.records)
        .map_err(|failure| match failure {
            ParseFailure::Syntax(error) => format!("record {}: {}", error.line, error.message),
            other => other.to_string(),
        })
}

/// Records from zone text; names must be absolute or follow an `$ORIGIN`.
fn zone_text(payload: &[u8]) -> Result<RecordSet, String> {
    let options = ParseOptions::default();
    let parsed =
        parse_bytes(payload, "<message>".into(), None, &options).map_err(|failure| match failure {
            ParseFailure::Syntax(error) => format!(
                "zone text line {}:{}: {}",
                error.line, error.column, error.message
            ),
            other => other.to_string(),
        })?;
    if parsed.records.is_empty() {
        return Err("zone text without records".into());
    }
    Ok(parsed.records)
}

/// A resolution result as JSON gives it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonResult {
    domain: String,
    status: String,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    records: Vec<Value>,
}

/// The records and outcomes of a message of resolution results.
pub fn results(payload: &[u8]) -> Result<Rows, String> {
    let value: Value = serde_json::from_slice(payload).map_err(|e| format!("not JSON: {e}"))?;
    let list = match value {
        Value::Object(mut object) if object.contains_key("results") && object.len() == 1 => {
            match object.remove("results") {
                Some(Value::Array(list)) => list,
                _ => return Err("results must be a list".into()),
            }
        }
        Value::Array(list) => list,
        object @ Value::Object(_) => vec![object],
        _ => return Err("a result must be a JSON object or a list of them".into()),
    };
    if list.is_empty() {
        return Err("no results".into());
    }
    let mut outcomes = Vec::with_capacity(list.len());
    let mut answers = Vec::new();
    for (index, item) in list.into_iter().enumerate() {
        let at = |problem: String| format!("result {}: {problem}", index + 1);
        let result: JsonResult = serde_json::from_value(item).map_err(|e| at(e.to_string()))?;
        let domain =
            domain_name(&result.domain).map_err(|e| at(format!("domain {:?}: {e}", result.domain)))?;
        let status = match result.status.as_str() {
            "resolved" => status::RESOLVED,
            "nxdomain" => status::NXDOMAIN,
            "failed" => status::FAILED,
            other => {
                return Err(at(format!(
                    "status {other:?} is none of resolved, nxdomain, failed"
                )))
            }
        };
        let error = (status == status::FAILED).then(|| result.error.unwrap_or_else(|| "failed".into()));
        outcomes.push((domain, Outcome { status, error }));
        answers.extend(result.records);
    }
    let records = if answers.is_empty() {
        RecordSet::default()
    } else {
        json_records(Value::Array(answers))?
    };
    Ok(Rows::Records { records, outcomes })
}

/// The event of a message: a CloudEvent (`specversion`, `id`, `source`, `type`) or a dnsmill
/// bus event (`topic`, `name`, `timestamp`, and its data).
pub fn event(message: &MessageView<'_>) -> Result<EventRow, String> {
    let value: Value = serde_json::from_slice(message.payload).map_err(|e| format!("not JSON: {e}"))?;
    let Value::Object(mut object) = value else {
        return Err("an event must be a JSON object".into());
    };
    let text = |object: &mut Map<String, Value>, field: &str| -> Result<Option<String>, String> {
        match object.remove(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => Ok(Some(text)),
            Some(_) => Err(format!("{field} must be text")),
        }
    };
    let (id, source, kind, subject, time, data) = if object.contains_key("specversion") {
        let required = |object: &mut Map<String, Value>, field: &str| {
            text(object, field)?
                .filter(|text| !text.is_empty())
                .ok_or_else(|| format!("a CloudEvent needs {field}"))
        };
        let id = required(&mut object, "id")?;
        let source = required(&mut object, "source")?;
        let kind = required(&mut object, "type")?;
        let subject = text(&mut object, "subject")?;
        let time = match text(&mut object, "time")? {
            Some(time) => Some(
                EventTime::parse(&time).ok_or_else(|| format!("time {time:?} is not an RFC 3339 moment"))?,
            ),
            None => None,
        };
        let data = match (object.remove("data"), object.remove("data_base64")) {
            (Some(data), None) => data,
            (None, Some(encoded)) => encoded,
            (None, None) => Value::Null,
            (Some(_), Some(_)) => return Err("a CloudEvent has data or data_base64, not both".into()),
        };
        (Some(id), source, kind, subject, time, data)
    } else if object.contains_key("topic") && object.contains_key("name") {
        let topic = text(&mut object, "topic")?.unwrap_or_default();
        let name = text(&mut object, "name")?.unwrap_or_default();
        let time = match object.remove("timestamp") {
            Some(Value::Number(seconds)) => Some(
                seconds
                    .as_f64()
                    .and_then(EventTime::from_epoch_seconds)
                    .ok_or_else(|| format!("timestamp {seconds} is out of range"))?,
            ),
            None => None,
            Some(_) => return Err("timestamp must be seconds since the epoch".into()),
        };
        (
            None,
            format!("dnsmill/{topic}"),
            format!("dnsmill.{topic}.{name}"),
            None,
            time,
            Value::Object(object),
        )
    } else {
        return Err(
            "neither a CloudEvent (specversion, id, source, type) nor a dnsmill event (topic, name)".into(),
        );
    };
    // The event's own identity when it has one, else the message's: a redelivery, or the same
    // event published again, lands on the same key.
    let (key, id) = match (id, message.msg_id) {
        (Some(id), _) => (event_key(&["cloudevent", &source, &id]), id),
        (None, Some(msg_id)) => (event_key(&["msg-id", message.stream, msg_id]), msg_id.to_string()),
        (None, None) => {
            let id = format!("{}:{}", message.stream, message.sequence);
            (event_key(&["sequence", &id]), id)
        }
    };
    Ok(EventRow {
        key,
        id,
        source,
        kind,
        subject: subject.or_else(|| Some(message.subject.to_string())),
        time,
        data: data.to_string(),
        stream: message.stream.to_string(),
        sequence: message.sequence,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view<'a>(payload: &'a [u8], msg_id: Option<&'a str>) -> MessageView<'a> {
        MessageView {
            subject: "events.test",
            payload,
            msg_id,
            stream: "EVENTS",
            sequence: 7,
        }
    }

    fn texts(rows: Rows) -> Vec<String> {
        match rows {
            Rows::Records { records, .. } => records
                .iter()
                .map(|r| format!("{} {} {} {}", r.name, r.ttl, r.rtype, r.rdata))
                .collect(),
            Rows::Events(_) => panic!("records expected"),
        }
    }

    #[test]
    fn records_come_as_json_objects_lists_or_zone_text() {
        let one = records(br#"{"name":"WWW.example.com","type":"a","ttl":300,"rdata":"192.0.2.1"}"#).unwrap();
        assert_eq!(texts(one), ["www.example.com. 300 A 192.0.2.1"]);
        let listed = records(
            br#"{"records":[{"name":"a.example.","type":"MX","ttl":1,"rdata":"10 mx.Example.com."},
            {"name":"b.example.","type":"TXT","ttl":2,"rdata":"\"hi there\""}]}"#,
        )
        .unwrap();
        assert_eq!(
            texts(listed),
            [
                "a.example. 1 MX 10 mx.example.com.",
                "b.example. 2 TXT \"hi there\""
            ]
        );
        let zone = records(b"$ORIGIN example.org.\nwww 60 IN AAAA 2001:db8::1\n").unwrap();
        assert_eq!(texts(zone), ["www.example.org. 60 AAAA 2001:db8::1"]);
    }

    #[test]
    fn bad_records_say_what_is_wrong() {
        let error = |payload: &[u8]| records(payload).unwrap_err();
        assert!(error(br#"{"name":"x.","type":"A","ttl":1,"rdata":"300.1.1.1"}"#).starts_with("record 1:"));
        assert!(error(br#"{"name":"x.","type":"A","rdata":"192.0.2.1"}"#).contains("ttl"));
        assert!(error(b"{not json").starts_with("not JSON"));
        assert!(
            error(br#"{"name":"x.","type":"A","ttl":1,"rdata":"192.0.2.1\nevil. 1 A 192.0.2.2"}"#)
                .contains("line break")
        );
        assert!(error(br#"{"name":"x y.","type":"A","ttl":1,"rdata":"192.0.2.1"}"#).contains("one word"));
        assert!(error(b"www 60 IN A 192.0.2.1").contains("line 1"));
        assert_eq!(error(b"  "), "an empty message");
    }

    #[test]
    fn results_give_outcomes_and_records() {
        let Rows::Records { records, outcomes } = results(
            br#"{"results":[{"domain":"Example.COM.","status":"resolved","records":[{"name":"example.com","type":"A","ttl":5,"rdata":"192.0.2.9"}]},
                {"domain":"gone.example","status":"nxdomain"},{"domain":"slow.example","status":"failed","error":"A timeout"}]}"#,
        )
        .unwrap() else {
            panic!("records expected")
        };
        assert_eq!(records.len(), 1);
        let summary: Vec<_> = outcomes
            .iter()
            .map(|(d, o)| (d.as_str(), o.status, o.error.as_deref()))
            .collect();
        assert_eq!(
            summary,
            [
                ("example.com.", "resolved", None),
                ("gone.example.", "nxdomain", None),
                ("slow.example.", "failed", Some("A timeout"))
            ]
        );
        assert!(results(br#"{"domain":"a.example","status":"maybe"}"#)
            .unwrap_err()
            .contains("maybe"));
    }

    #[test]
    fn events_keep_their_identity_across_redeliveries() {
        let cloud = br#"{"specversion":"1.0","id":"42","source":"/sensor/1","type":"dns.seen","time":"2026-11-30T12:00:00Z","data":{"q":"a."}}"#;
        let first = event(&view(cloud, Some("m-1"))).unwrap();
        let again = event(&MessageView {
            sequence: 99,
            ..view(cloud, Some("m-2"))
        })
        .unwrap();
        assert_eq!(first.key, again.key);
        assert_eq!(
            (first.id.as_str(), first.kind.as_str(), first.data.as_str()),
            ("42", "dns.seen", r#"{"q":"a."}"#)
        );
        assert_eq!(first.time.unwrap().text(), "2026-11-30 12:00:00.000000");

        let bus = br#"{"topic":"seeder","name":"dns_records_seeded","timestamp":1700000000.5,"count":3}"#;
        let by_id = event(&view(bus, Some("m-1"))).unwrap();
        assert_eq!(
            (by_id.source.as_str(), by_id.kind.as_str()),
            ("dnsmill/seeder", "dnsmill.seeder.dns_records_seeded")
        );
        assert_eq!(by_id.data, r#"{"count":3}"#);
        let by_sequence = event(&view(bus, None)).unwrap();
        assert_eq!(by_sequence.id, "EVENTS:7");
        assert_ne!(by_id.key, by_sequence.key);

        assert!(
            event(&view(br#"{"specversion":"1.0","id":"1","source":"s"}"#, None))
                .unwrap_err()
                .contains("type")
        );
        assert!(event(&view(br#"{"hello":1}"#, None))
            .unwrap_err()
            .contains("neither"));
        assert!(event(&view(
            br#"{"specversion":"1.0","id":"1","source":"s","type":"t","time":"noon"}"#,
            None
        ))
        .unwrap_err()
        .contains("noon"));
    }
}
