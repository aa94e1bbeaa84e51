//! JetStream as the event writer uses it: the streams and the durable consumer made or checked
//! at start, dead letters published, deliveries settled.

use std::time::Duration;

use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy, PullConsumer};
use async_nats::jetstream::context::{ConsumerInfoErrorKind, GetStreamByNameErrorKind, GetStreamErrorKind};
use async_nats::jetstream::{self, AckKind, Context};
use async_nats::HeaderMap;

use super::StreamConfig;
use crate::error::Error;

/// Longest a delivery waits to be settled while NATS is away.
pub const SETTLE_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest a dead letter's error header gets: the reason, not a novel.
const MAX_ERROR_HEADER: usize = 1024;

/// Connects to NATS at `url`. After this first connection the client reconnects on its own,
/// with backoff, for as long as the writer runs.
pub async fn connect(url: &str) -> Result<async_nats::Client, Error> {
    async_nats::ConnectOptions::new()
        .name("dnsmill ingest")
        .connection_timeout(Duration::from_secs(5))
        .max_reconnects(None)
        .event_callback(|event| async move {
            match event {
                async_nats::Event::Disconnected => tracing::warn!("NATS connection lost; reconnecting"),
                async_nats::Event::Connected => tracing::info!("NATS connection (re)established"),
                other => tracing::debug!("NATS: {other}"),
            }
        })
        .connect(url)
        .await
        .map_err(|e| Error::Queue(format!("cannot connect to NATS at {}: {e}", redacted(url))))
}

/// `url` without its password, as store URLs are shown; and where the credentials are one
/// word, without them: for NATS that is a token, a secret, not a user name.
pub fn redacted(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((token, host)) if !token.contains(':') => format!("{scheme}://***@{host}"),
            _ => crate::store::url::redact(url),
        },
        None => url.to_string(),
    }
}

/// Makes the stream when it is missing; an existing one must hold every configured subject
/// (it may hold more). Then makes sure a stream holds its dead letters.
pub async fn ensure_streams(context: &Context, config: &StreamConfig) -> Result<(), Error> {
    let queue_error =
        |what: &str, e: &dyn std::fmt::Display| Error::Queue(format!("stream {}: {what}: {e}", config.name));
    match context.get_stream(&config.name).await {
        Ok(mut stream) => {
            let info = stream
                .info()
                .await
                .map_err(|e| queue_error("reading its configuration", &e))?;
            let missing: Vec<&str> = config
                .subjects
                .iter()
                .filter(|subject| !info.config.subjects.contains(subject))
                .map(String::as_str)
                .collect();
            if !missing.is_empty() {
                return Err(Error::Config(format!(
                    "stream {} exists with subjects [{}], without the configured [{}]; add them to the \
                     stream (nats stream edit {}) or configure the subjects it has",
                    config.name,
                    info.config.subjects.join(", "),
                    missing.join(", "),
                    config.name
                )));
            }
        }
        Err(error) if matches!(error.kind(), GetStreamErrorKind::JetStream(ref e) if e.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND) =>
        {
            tracing::info!(
                "creating stream {} for [{}]",
                config.name,
                config.subjects.join(", ")
            );
            context
                .create_stream(jetstream::stream::Config {
                    name: config.name.clone(),
                    subjects: config.subjects.clone(),
                    ..Default::default()
                })
                .await
                .map_err(|e| queue_error("creating it", &e))?;
        }
        Err(error) => return Err(queue_error("looking it up", &error)),
    }
    match context
        .stream_by_subject(config.dead_letter_subject.clone())
        .await
    {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == GetStreamByNameErrorKind::NotFound => {
            let name = dead_letter_stream(&config.name);
            tracing::info!("creating stream {name} for the dead letters of {}", config.name);
            context
                .create_stream(jetstream::stream::Config {
                    name,
                    subjects: vec![config.dead_letter_subject.clone()],
                    ..Default::default()
                })
                .await
                .map(|_| ())
                .map_err(|e| queue_error("creating its dead-letter stream", &e))
        }
        Err(error) => Err(queue_error("looking up its dead-letter stream", &error)),
    }
}

/// The stream made for the dead letters of `stream` when no stream holds their subject.
pub fn dead_letter_stream(stream: &str) -> String {
    format!("{stream}-DLQ")
}

/// The consumer as the writer wants it. The server's own delivery limit is off: when it gives
/// up on a message it only tells an advisory subject, and the message is lost to the
/// consumer. The writer counts deliveries itself and dead-letters a message delivered more
/// than `max_deliver` times, so nothing leaves the stream unseen.
pub fn consumer_config(config: &StreamConfig, max_ack_pending: i64) -> pull::Config {
    pull::Config {
        durable_name: Some(config.durable.clone()),
        description: Some("dnsmill ingest".into()),
        deliver_policy: DeliverPolicy::All,
        ack_policy: AckPolicy::Explicit,
        ack_wait: config.ack_wait,
        max_deliver: -1,
        max_ack_pending,
        ..Default::default()
    }
}

/// The durable consumer of `config`'s stream: made when missing; when its live configuration
/// differs from `wanted`, updated, or refused with the difference shown.
pub async fn ensure_consumer(
    context: &Context,
    config: &StreamConfig,
    wanted: pull::Config,
) -> Result<PullConsumer, Error> {
    let stream = context
        .get_stream_no_info(&config.name)
        .await
        .map_err(|e| Error::Queue(format!("stream {}: {e}", config.name)))?;
    let differences = match stream.consumer_info(&config.durable).await {
        Ok(info) => differences(&info.config, &wanted),
        Err(error) if error.kind() == ConsumerInfoErrorKind::NotFound => Vec::new(),
        Err(error) if matches!(error.kind(), ConsumerInfoErrorKind::JetStream(ref e) if e.error_code() == jetstream::ErrorCode::CONSUMER_NOT_FOUND) => {
            Vec::new()
        }
        Err(error) => {
            return Err(Error::Queue(format!(
                "consumer {} of stream {}: {error}",
                config.durable, config.name
            )))
        }
    };
    match stream.create_consumer(wanted).await {
        Ok(consumer) => {
            if !differences.is_empty() {
                tracing::warn!(
                    "consumer {} of stream {} updated to the configuration: {}",
                    config.durable,
                    config.name,
                    differences.join("; ")
                );
            }
            Ok(consumer)
        }
        Err(error) if !differences.is_empty() => Err(Error::Config(format!(
            "consumer {} of stream {} differs from the configuration ({}) and the server refused to \
             update it: {error}. Remove it (nats consumer rm {} {}) to have it made again, or \
             configure it as it is",
            config.durable,
            config.name,
            differences.join("; "),
            config.name,
            config.durable
        ))),
        Err(error) => Err(Error::Queue(format!(
            "cannot create consumer {} of stream {}: {error}",
            config.durable, config.name
        ))),
    }
}

/// What differs between a live consumer and the wanted one, as `field: live -> wanted`.
pub fn differences(live: &jetstream::consumer::Config, wanted: &pull::Config) -> Vec<String> {
    let fields = [
        (
            "ack_policy",
            format!("{:?}", live.ack_policy),
            format!("{:?}", wanted.ack_policy),
        ),
        (
            "ack_wait",
            format!("{:?}", live.ack_wait),
            format!("{:?}", wanted.ack_wait),
        ),
        (
            "max_deliver",
            live.max_deliver.to_string(),
            wanted.max_deliver.to_string(),
        ),
        (
            "max_ack_pending",
            live.max_ack_pending.to_string(),
            wanted.max_ack_pending.to_string(),
        ),
        (
            "filter_subject",
            format!("{:?}", live.filter_subject),
            format!("{:?}", wanted.filter_subject),
        ),
        (
            "deliver_policy",
            format!("{:?}", live.deliver_policy),
            format!("{:?}", wanted.deliver_policy),
        ),
        (
            "push delivery",
            format!("{:?}", live.deliver_subject),
            "None".into(),
        ),
    ];
    fields
        .into_iter()
        .filter(|(_, live, wanted)| live != wanted)
        .map(|(field, live, wanted)| format!("{field}: {live} -> {wanted}"))
        .collect()
}

/// Where a message came from, for its dead letter.
pub struct Origin<'a> {
    /// The stream.
    pub stream: &'a str,
    /// Its sequence there.
    pub sequence: u64,
    /// How many times it has been delivered.
    pub delivered: i64,
    /// The route (or `none`) that took it.
    pub route: &'a str,
}

/// Publishes `message` to `subject` as a dead letter (its payload and headers, with where it
/// came from and `reason` in `Dnsmill-*` headers) and waits for JetStream to store it; then
/// terminates the delivery, so it is never delivered again. If the dead letter cannot be
/// stored, the delivery is given back with a delay instead: the message is never lost.
pub async fn dead_letter(
    context: &Context,
    subject: &str,
    message: &jetstream::Message,
    origin: Origin<'_>,
    reason: &str,
) -> Result<(), Error> {
    let mut headers = HeaderMap::new();
    if let Some(original) = &message.headers {
        for (name, values) in original.iter() {
            // JetStream acts on its own headers (an id, an expected stream or sequence, a
            // rollup): in a dead letter they are kept under another name, as information.
            let name: &str = name.as_ref();
            let name = match name.strip_prefix("Nats-") {
                Some(rest) => format!("Dnsmill-Original-{rest}"),
                None => name.to_string(),
            };
            for value in values {
                headers.append(name.as_str(), value.as_str());
            }
        }
    }
    let mut reason = reason.replace(['\r', '\n'], " ");
    if reason.len() > MAX_ERROR_HEADER {
        let mut cut = MAX_ERROR_HEADER;
        while !reason.is_char_boundary(cut) {
            cut -= 1;
        }
        reason.truncate(cut);
    }
    // Its own id: a dead letter published again (the writer died before terminating the
    // delivery) is dropped by the dead-letter stream as a duplicate.
    headers.insert(
        "Nats-Msg-Id",
        format!("dlq:{}:{}", origin.stream, origin.sequence),
    );
    headers.insert("Dnsmill-Stream", origin.stream);
    headers.insert("Dnsmill-Subject", message.subject.as_str());
    headers.insert("Dnsmill-Sequence", origin.sequence.to_string());
    headers.insert("Dnsmill-Deliveries", origin.delivered.to_string());
    headers.insert("Dnsmill-Route", origin.route);
    headers.insert("Dnsmill-Error", reason);
    let stored = async {
        context
            .publish_with_headers(subject.to_string(), headers, message.payload.clone())
            .await?
            .await?;
        Ok::<(), async_nats::Error>(())
    };
    // While NATS is away a publish waits for it: a dead letter gives up after a while, and the
    // message comes back to be dead-lettered again.
    let stored = match tokio::time::timeout(SETTLE_TIMEOUT * 2, stored).await {
        Ok(stored) => stored,
        Err(_) => Err("no answer from JetStream".into()),
    };
    match stored {
        Ok(()) => settle(message, AckKind::Term).await,
        Err(error) => {
            settle(message, AckKind::Nak(Some(Duration::from_secs(5)))).await?;
            Err(Error::Queue(format!(
                "cannot store a dead letter on {subject}: {error}"
            )))
        }
    }
}

/// Acks, naks, terminates or extends one delivery. While NATS is away, gives up after
/// [`SETTLE_TIMEOUT`]: an ack lost that way means a redelivery, which writes the same rows.
pub async fn settle(message: &jetstream::Message, kind: AckKind) -> Result<(), Error> {
    match tokio::time::timeout(SETTLE_TIMEOUT, message.ack_with(kind)).await {
        Ok(settled) => settled.map_err(|e| Error::Queue(format!("cannot settle a delivery: {e}"))),
        Err(_) => Err(Error::Queue(
            "cannot settle a delivery: NATS is not answering".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_left_out_of_urls() {
        assert_eq!(
            redacted("nats://user:secret@host:4222"),
            "nats://user:***@host:4222"
        );
        assert_eq!(redacted("nats://token@host"), "nats://***@host");
        assert_eq!(redacted("nats://127.0.0.1:4222"), "nats://127.0.0.1:4222");
    }

    #[test]
    fn differences_name_each_field_that_moved() {
        let stream = StreamConfig {
            name: "DNS".into(),
            subjects: vec!["dns.>".into()],
            durable: "w".into(),
            dead_letter_subject: "DNS.DLQ".into(),
            max_deliver: 5,
            ack_wait: Duration::from_secs(60),
        };
        let wanted = consumer_config(&stream, 20_000);
        let mut live = jetstream::consumer::IntoConsumerConfig::into_consumer_config(wanted.clone());
        assert!(differences(&live, &wanted).is_empty());
        live.ack_wait = Duration::from_secs(30);
        live.max_deliver = 5;
        assert_eq!(
            differences(&live, &wanted),
            ["ack_wait: 30s -> 60s", "max_deliver: 5 -> -1"]
        );
    }
}
