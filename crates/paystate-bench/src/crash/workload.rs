//! What the crash test's writers (`writer.rs`) remember of every request, and how a request is
//! sent until it is answered.
//!
//! A request that gets no answer (the server was killed under it) is sent again, the same bytes,
//! once the server is back: with its `Idempotency-Key` when it has one, and without one only when
//! it is naturally idempotent (a status report, a Norce hook). A keyless create, refund or
//! chargeback that got no answer is left as an unknown outcome, which must show at most once. A keyed request answered 409
//! "key in use" (the crashed request's claim) waits for the final drain, and its payment gets no
//! further request.

use reqwest::Method;
use serde_json::Value;
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

/// How long one request may keep being resent (the server restarts in about a second).
const RESEND_FOR: Duration = Duration::from_secs(60);

/// A tenant's id and credentials. Never printed.
pub struct Keys {
    pub tenant_id: String,
    pub admin: String,
    pub omnicasa: String,
    pub teljoy: String,
    pub norce: String,
    pub gormic: String,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Op {
    CreateOrder,
    CreatePayment,
    Status,
    Refund,
    Chargeback,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Api {
    Native,
    Teljoy,
    Omnicasa,
    Norce,
    Gormic,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Outcome {
    /// Answered 2xx.
    Acked,
    /// Answered anything else (after any resends).
    Refused(u16),
    /// No answer, and not resent (keyless and not idempotent), or resent in vain until the limit.
    Unknown,
    /// Waiting for the final drain: its key was still claimed (409).
    Claimed,
}

/// One request sent, and what became of it.
#[derive(Clone)]
pub struct Record {
    pub token: String,
    pub op: Op,
    pub api: Api,
    pub keyed: bool,
    pub tenant: usize,
    /// Sent again after a try that may have reached the server.
    pub resent: bool,
    pub outcome: Outcome,
}

/// A request, kept so that it can be sent again byte for byte.
#[derive(Clone)]
pub struct Request {
    pub method: Method,
    pub path: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
    pub key: Option<String>,
    /// A status report: the status machine makes a repeat harmless, key or not.
    pub idempotent: bool,
}

enum Answer {
    Status(u16, String),
    /// 409: the key's claim is held (by the request a kill interrupted).
    InUse,
    None,
}

pub struct Shared {
    pub base: String,
    pub client: reqwest::Client,
    pub tenants: Vec<Keys>,
    /// The prefix of every token of this run (`crash` and random hex digits).
    pub run: String,
    /// Time between two requests of one writer.
    pub pause: Duration,
    /// Whether requests may carry an `Idempotency-Key`.
    pub with_keys: bool,
    pub stop: AtomicBool,
    pub records: Mutex<Vec<Record>>,
    pub deferred: Mutex<Vec<(usize, Request)>>,
}

impl Shared {
    /// Sends `request` until it is answered, resending what the rules allow for at most `limit`;
    /// sets `resent` when a try that may have reached the server is sent again.
    async fn send(&self, request: &Request, resent: &mut bool, limit: Duration) -> Answer {
        let deadline = Instant::now() + limit;
        loop {
            let mut builder = self
                .client
                .request(request.method.clone(), format!("{}{}", self.base, request.path))
                .timeout(Duration::from_secs(20))
                .header("content-type", "application/json")
                .body(request.body.clone());
            for (name, value) in &request.headers {
                builder = builder.header(*name, value);
            }
            if let Some(key) = &request.key {
                builder = builder.header("idempotency-key", key);
            }
            // Whether this try surely never reached the server (nothing was written).
            let unsent = match builder.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    match response.text().await {
                        // Busy: the server wrote nothing and asks for a retry.
                        Ok(_) if status == 503 => true,
                        Ok(body)
                            if status == 409 && request.key.is_some() && body.contains("idempotency-key-in-use") =>
                        {
                            return Answer::InUse;
                        }
                        Ok(body) => return Answer::Status(status, body),
                        Err(_) => false,
                    }
                }
                Err(error) => error.is_connect(),
            };
            if !unsent && request.key.is_none() && !request.idempotent {
                return Answer::None;
            }
            if Instant::now() >= deadline {
                return Answer::None;
            }
            *resent |= !unsent;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Sends a new request and records it: its outcome and, when acknowledged, the answer's body.
    pub async fn perform(&self, op: Op, api: Api, tenant: usize, token: String, request: Request) -> (Outcome, Value) {
        let keyed = request.key.is_some();
        let index = {
            let mut records = self.records.lock().expect("records");
            records.push(Record { token, op, api, keyed, tenant, resent: false, outcome: Outcome::Unknown });
            records.len() - 1
        };
        let mut resent = false;
        let answer = self.send(&request, &mut resent, RESEND_FOR).await;
        let (outcome, body) = match answer {
            Answer::Status(status, body) if (200..300).contains(&status) => {
                (Outcome::Acked, serde_json::from_str(&body).unwrap_or(Value::Null))
            }
            Answer::Status(status, _) => (Outcome::Refused(status), Value::Null),
            Answer::InUse => {
                self.deferred.lock().expect("deferred").push((index, request));
                (Outcome::Claimed, Value::Null)
            }
            Answer::None => (Outcome::Unknown, Value::Null),
        };
        let mut records = self.records.lock().expect("records");
        records[index].resent = resent || outcome == Outcome::Claimed;
        records[index].outcome = outcome;
        (outcome, body)
    }

    /// Sends every request left waiting for its key's claim until each is answered or `limit`
    /// passes (a claim left by a crash is taken over after a minute): how many stay unanswered.
    pub async fn drain(&self, limit: Duration) -> usize {
        let deadline = Instant::now() + limit;
        let mut waiting = std::mem::take(&mut *self.deferred.lock().expect("deferred"));
        while !waiting.is_empty() && Instant::now() < deadline {
            let mut still = Vec::new();
            for (index, request) in waiting {
                let mut resent = true;
                let left = deadline.saturating_duration_since(Instant::now());
                let outcome = match self.send(&request, &mut resent, left).await {
                    Answer::Status(status, _) if (200..300).contains(&status) => Outcome::Acked,
                    Answer::Status(status, _) => Outcome::Refused(status),
                    Answer::None => Outcome::Unknown,
                    Answer::InUse => {
                        still.push((index, request));
                        continue;
                    }
                };
                self.records.lock().expect("records")[index].outcome = outcome;
            }
            waiting = still;
            if !waiting.is_empty() {
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
        waiting.len()
    }
}
