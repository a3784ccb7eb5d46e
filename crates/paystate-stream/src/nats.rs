//! The NATS side: connecting, making sure the JetStream stream exists with a configuration that
//! keeps paystate's promises, and the shape of each message.

use async_nats::jetstream::context::GetStreamErrorKind;
use async_nats::jetstream::{self, stream};
use paystate_domain::StoredEvent;
use std::time::Duration;

/// The subjects every event goes to: `paystate.<tenant id>.<event type>`.
pub const SUBJECTS: &str = "paystate.>";

/// The shortest duplicate window paystate accepts: a publisher retries an unacknowledged event
/// well within it, so JetStream drops the copy.
pub const MIN_DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

/// Why the publisher cannot run (yet).
#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    /// NATS did not answer; the publisher tries again.
    #[error("NATS is unreachable: {0}")]
    Unreachable(String),
    /// The stream exists with settings that would break delivery; an operator must fix it.
    #[error("the JetStream stream {stream} is incompatible: {reason}")]
    Incompatible { stream: String, reason: String },
}

/// The subject of an event.
pub fn subject(event: &StoredEvent, tenant: &str) -> String {
    format!("paystate.{tenant}.{}", event.kind.as_str())
}

/// The stream paystate creates when it is missing: file storage, every paystate subject, a
/// duplicate window of two minutes, limits retention (consumers replay from any point).
pub fn default_config(name: &str) -> stream::Config {
    stream::Config {
        name: name.to_owned(),
        subjects: vec![SUBJECTS.to_owned()],
        storage: stream::StorageType::File,
        retention: stream::RetentionPolicy::Limits,
        duplicate_window: MIN_DUPLICATE_WINDOW,
        ..Default::default()
    }
}

/// Why an existing stream cannot take paystate's events, if it cannot.
pub fn incompatibility(config: &stream::Config) -> Option<String> {
    let covers = config.subjects.iter().any(|s| s == SUBJECTS || s == ">");
    if !covers {
        return Some(format!("its subjects {:?} do not include {SUBJECTS}", config.subjects));
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
pub async fn ensure_stream(context: &jetstream::Context, name: &str) -> Result<(), NatsError> {
    let incompatible = |reason: String| NatsError::Incompatible { stream: name.to_owned(), reason };
    match context.get_stream(name).await {
        Ok(existing) => match incompatibility(&existing.cached_info().config) {
            Some(reason) => Err(incompatible(reason)),
            None => Ok(()),
        },
        Err(error) => match error.kind() {
            GetStreamErrorKind::JetStream(e) if e.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND => {
                let created = context.create_stream(default_config(name)).await;
                created.map_err(|e| incompatible(format!("cannot create it: {e}")))?;
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
        let good = default_config("PAYSTATE");
        assert_eq!(incompatibility(&good), None);
        let all = stream::Config { subjects: vec![">".into()], ..good.clone() };
        assert_eq!(incompatibility(&all), None);
        let cases = [
            stream::Config { subjects: vec!["orders.>".into()], ..good.clone() },
            stream::Config { storage: stream::StorageType::Memory, ..good.clone() },
            stream::Config { duplicate_window: Duration::from_secs(30), ..good.clone() },
            stream::Config { no_ack: true, ..good.clone() },
            stream::Config { retention: stream::RetentionPolicy::WorkQueue, ..good.clone() },
        ];
        for case in cases {
            assert!(incompatibility(&case).is_some(), "{case:?}");
        }
    }
}
