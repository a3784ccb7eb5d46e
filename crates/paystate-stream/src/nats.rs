//! The NATS side: connecting, making sure the JetStream stream exists with a configuration that
//! keeps paystate's promises, and the shape of each message.

use async_nats::jetstream::context::GetStreamErrorKind;
use async_nats::jetstream::{self, stream};
use paystate_domain::StoredEvent;
use std::time::Duration;

/// The default first token of every subject: events go to `paystate.<tenant id>.<event type>`.
/// Deployments sharing one NATS account give each paystate its own prefix (one stream may own a
/// subject, so two streams cannot both take `paystate.>`).
pub const DEFAULT_SUBJECT_PREFIX: &str = "paystate";

/// The shortest duplicate window paystate accepts: a publisher retries an unacknowledged event
/// well within it, so JetStream drops the copy.
pub const MIN_DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

/// Why the publisher cannot run (yet).
#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    /// NATS did not answer; the publisher tries again.
    #[error("NATS is unreachable: {0}")]
    Unreachable(String),
    /// The subject prefix cannot name subjects (empty tokens, wildcards, spaces).
    #[error("the NATS subject prefix {0:?} is invalid: use tokens of letters, digits, '-' and '_' separated by dots")]
    InvalidPrefix(String),
    /// The stream exists with settings that would break delivery; an operator must fix it.
    #[error("the JetStream stream {stream} is incompatible: {reason}")]
    Incompatible { stream: String, reason: String },
}

/// Checks a subject prefix: dot-separated tokens of letters, digits, `-` and `_`.
pub fn check_prefix(prefix: &str) -> Result<(), NatsError> {
    let token_ok = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    match prefix.split('.').all(token_ok) {
        true => Ok(()),
        false => Err(NatsError::InvalidPrefix(prefix.to_owned())),
    }
}

/// Every subject under a prefix: `<prefix>.>`.
pub fn subjects(prefix: &str) -> String {
    format!("{prefix}.>")
}

/// The subject of an event: `<prefix>.<tenant id>.<event type>`.
pub fn subject(prefix: &str, event: &StoredEvent, tenant: &str) -> String {
    format!("{prefix}.{tenant}.{}", event.kind.as_str())
}

/// The stream paystate creates when it is missing: file storage, every subject under the prefix,
/// a duplicate window of two minutes, limits retention (consumers replay from any point).
pub fn default_config(name: &str, prefix: &str) -> stream::Config {
    stream::Config {
        name: name.to_owned(),
        subjects: vec![subjects(prefix)],
        storage: stream::StorageType::File,
        retention: stream::RetentionPolicy::Limits,
        duplicate_window: MIN_DUPLICATE_WINDOW,
        ..Default::default()
    }
}

/// Why an existing stream cannot take paystate's events under `prefix`, if it cannot.
pub fn incompatibility(config: &stream::Config, prefix: &str) -> Option<String> {
    let wanted = subjects(prefix);
    let covers = config.subjects.iter().any(|s| *s == wanted || s == ">");
    if !covers {
        return Some(format!("its subjects {:?} do not include {wanted}", config.subjects));
    }
    if config.storage != stream::StorageType::File {
        return Some("it keeps messages in memory; paystate needs file storage".into());
    }
    if config.duplicate_window < MIN_DUPLICATE_WINDOW {
        return Some(format!(
            "its duplicate window is {:?}; at least {MIN_DUPLICATE_WINDOW:?} is needed to drop re-published events",
            config.duplicate_window
        ));
    }
    if config.no_ack {
        return Some("it does not acknowledge publishes (no_ack)".into());
    }
    if config.retention == stream::RetentionPolicy::WorkQueue {
        return Some("work-queue retention deletes events once consumed; use limits or interest".into());
    }
    None
}

/// Connects to NATS; answers the JetStream context (the client reconnects by itself).
pub async fn connect(url: &str, timeout: Duration) -> Result<jetstream::Context, NatsError> {
    let client = async_nats::ConnectOptions::new()
        .connection_timeout(timeout)
        .connect(url)
        .await
        .map_err(|e| NatsError::Unreachable(e.to_string()))?;
    Ok(jetstream::ContextBuilder::new().timeout(timeout).build(client))
}

/// Makes sure the stream is there (creating it with [`default_config`]) and compatible.
pub async fn ensure_stream(context: &jetstream::Context, name: &str, prefix: &str) -> Result<(), NatsError> {
    let incompatible = |reason: String| NatsError::Incompatible { stream: name.to_owned(), reason };
    match context.get_stream(name).await {
        Ok(existing) => match incompatibility(&existing.cached_info().config, prefix) {
            Some(reason) => Err(incompatible(reason)),
            None => Ok(()),
        },
        Err(error) => match error.kind() {
            GetStreamErrorKind::JetStream(e) if e.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND => {
                let created = context.create_stream(default_config(name, prefix)).await;
                created.map_err(|e| match e.kind() {
                    jetstream::context::CreateStreamErrorKind::JetStream(j)
                        if j.error_code() == jetstream::ErrorCode::STREAM_SUBJECT_OVERLAP =>
                    {
                        incompatible(format!(
                            "cannot create it: another stream already takes {}; publish to that stream \
                             (--nats-stream) or give this paystate its own --nats-subject-prefix",
                            subjects(prefix)
                        ))
                    }
                    _ => incompatible(format!("cannot create it: {e}")),
                })?;
                tracing::info!(stream = name, "created the JetStream stream for paystate's events");
                Ok(())
            }
            GetStreamErrorKind::InvalidStreamName | GetStreamErrorKind::EmptyName => {
                Err(incompatible("the name is not a valid stream name".into()))
            }
            _ => Err(NatsError::Unreachable(error.to_string())),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_stream_is_compatible_and_weaker_ones_are_not() {
        let good = default_config("PAYSTATE", DEFAULT_SUBJECT_PREFIX);
        assert_eq!(incompatibility(&good, DEFAULT_SUBJECT_PREFIX), None);
        let all = stream::Config { subjects: vec![">".into()], ..good.clone() };
        assert_eq!(incompatibility(&all, DEFAULT_SUBJECT_PREFIX), None);
        assert!(incompatibility(&good, "shop-eu.paystate").is_some(), "another prefix's subjects");
        let cases = [
            stream::Config { subjects: vec!["orders.>".into()], ..good.clone() },
            stream::Config { storage: stream::StorageType::Memory, ..good.clone() },
            stream::Config { duplicate_window: Duration::from_secs(30), ..good.clone() },
            stream::Config { no_ack: true, ..good.clone() },
            stream::Config { retention: stream::RetentionPolicy::WorkQueue, ..good.clone() },
        ];
        for case in cases {
            assert!(incompatibility(&case, DEFAULT_SUBJECT_PREFIX).is_some(), "{case:?}");
        }
    }

    #[test]
    fn prefixes_are_dot_separated_plain_tokens() {
        for good in ["paystate", "shop-eu.paystate", "ps_test_1"] {
            assert!(check_prefix(good).is_ok(), "{good}");
        }
        for bad in ["", ".", "paystate.", "a..b", "pay state", "pay.*", "pay.>", "pay\0"] {
            assert!(check_prefix(bad).is_err(), "{bad:?}");
        }
    }
}
