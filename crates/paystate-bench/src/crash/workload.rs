//! The writers of the crash test and what they remember of every request.
//!
//! Each writer owns its payments (so one payment's requests go out one at a time, in order) and
//! loops: create an order and its payment, move a payment one step along open → pending →
//! authorized → paid (through the native API, Teljoy or Omnicasa), or refund 1 minor unit of a
//! paid one. Every request carries a unique token that lands in its event's `request_body`, and
//! every request is one event when it applies, so the checks can count each token's events.
//!
//! A request that gets no answer (the server was killed under it) is sent again, the same bytes,
//! once the server is back: with its `Idempotency-Key` when it has one, and without one only when
//! it is naturally idempotent (a status report). A keyless create or refund that got no answer
//! is left as an unknown outcome, which must show at most once. A keyed request answered 409
//! "key in use" (the crashed request's claim) waits for the final drain, and its payment gets no
//! further request.

use crate::load::Random;
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The amount of every order and payment: room for many 1-unit refunds.
const AMOUNT: i64 = 100_000;
/// How long one request may keep being resent (the server restarts in about a second).
const RESEND_FOR: Duration = Duration::from_secs(60);
/// The most payments a writer keeps moving at once.
const OWNED: usize = 12;

/// A tenant's credentials. Never printed.
pub struct Keys {
    pub admin: String,
    pub omnicasa: String,
    pub teljoy: String,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Op {
    CreateOrder,
    CreatePayment,
    Status,
    Refund,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Api {
    Native,
    Teljoy,
    Omnicasa,
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
    method: Method,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: String,
    key: Option<String>,
    /// A status report: the status machine makes a repeat harmless, key or not.
    idempotent: bool,
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
    pub stop: AtomicBool,
    pub records: Mutex<Vec<Record>>,
    pub deferred: Mutex<Vec<(usize, Request)>>,
}

impl Shared {
    /// Sends `request` until it is answered, resending what the rules allow: the answer, whether
    /// it was resent after a try that may have reached the server, and how the record ends.
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
    async fn perform(&self, op: Op, api: Api, tenant: usize, token: String, request: Request) -> (Outcome, Value) {
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

/// A payment a writer moves along.
struct Owned {
    id: String,
    reference: String,
    /// 0 open, 1 pending, 2 authorized, 3 paid.
    step: usize,
    /// Created by one request that was answered at once: its order surely has no second
    /// payment, so Omnicasa (which picks the order's payment itself) reaches this one.
    clean: bool,
}

const STATUSES: [&str; 4] = ["open", "pending", "authorized", "paid"];

fn native(method: Method, path: String, admin: &str, body: Value, key: Option<String>) -> Request {
    Request {
        method,
        path,
        headers: vec![("authorization", format!("Bearer {admin}"))],
        body: body.to_string(),
        key,
        idempotent: false,
    }
}

/// One writer: requests until `stop`, one every `pause`.
pub async fn writer(shared: &Shared, writer: usize, seed: u64) {
    let mut random = Random::new(seed);
    let tenant = writer % shared.tenants.len();
    let keys = &shared.tenants[tenant];
    let mut owned: Vec<Owned> = Vec::new();
    let mut n = 0u64;
    let mut token = || {
        n += 1;
        format!("{}-{writer}-{n}", shared.run)
    };
    while !shared.stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        if owned.len() < 2 || random.below(100) < 8 {
            if owned.len() >= OWNED {
                owned.remove(0);
            }
            if let Some(payment) = create(shared, keys, tenant, &mut random, &mut token).await {
                owned.push(payment);
            }
        } else {
            let i = random.below(owned.len());
            let payment = &mut owned[i];
            let keep = if payment.step < 3 {
                let (api, request) = status(keys, payment, &mut random, token());
                let (outcome, _) = shared.perform(Op::Status, api, tenant, request.1, request.0).await;
                payment.step += 1;
                outcome == Outcome::Acked
            } else {
                let key = random.below(100) < 80;
                let token = token();
                let body = json!({"amount": 1, "reason": token});
                let path = format!("/v1/payments/{}/refunds", payment.id);
                let request = native(Method::POST, path, &keys.admin, body, key.then(|| format!("key-{token}")));
                let (outcome, _) = shared.perform(Op::Refund, Api::Native, tenant, token, request).await;
                // A keyless refund without an answer may or may not have happened: the payment
                // stays usable, the checks count its token.
                matches!(outcome, Outcome::Acked | Outcome::Unknown)
            };
            if !keep {
                // Refused or waiting for the drain: nothing more is sent for this payment, so
                // that the drain's retry finds it as the crashed request left it.
                owned.remove(i);
            }
        }
        tokio::time::sleep(shared.pause.saturating_sub(started.elapsed())).await;
    }
}

/// An order and its payment, each created with or without an `Idempotency-Key`.
async fn create(
    shared: &Shared,
    keys: &Keys,
    tenant: usize,
    random: &mut Random,
    token: &mut impl FnMut() -> String,
) -> Option<Owned> {
    let token_of_order = token();
    // Unique, but not a token: Omnicasa's reports name the order by its reference, and their
    // events must carry their own token only.
    let reference = token_of_order.replacen("crash", "order", 1);
    let key = (random.below(2) == 0).then(|| format!("key-{token_of_order}"));
    let body = json!({"reference": reference, "currency": "EUR", "total_amount": AMOUNT, "attributes": {"crash_token": token_of_order}});
    let request = native(Method::POST, "/v1/orders".into(), &keys.admin, body, key);
    let (outcome, order) = shared.perform(Op::CreateOrder, Api::Native, tenant, token_of_order, request).await;
    let order_id = order.get("id").and_then(Value::as_str).filter(|_| outcome == Outcome::Acked)?.to_owned();
    let note = token();
    let key = (random.below(2) == 0).then(|| format!("key-{note}"));
    // No external id on purpose: nothing but the Idempotency-Key keeps a retried create single.
    let body = json!({"order_id": order_id, "amount": AMOUNT, "note": note});
    let request = native(Method::POST, "/v1/payments".into(), &keys.admin, body, key);
    let before = shared.records.lock().expect("records").len();
    let (outcome, payment) = shared.perform(Op::CreatePayment, Api::Native, tenant, note, request).await;
    let id = payment.get("id").and_then(Value::as_str).filter(|_| outcome == Outcome::Acked)?.to_owned();
    let clean = !shared.records.lock().expect("records")[before].resent;
    Some(Owned { id, reference, step: 0, clean })
}

/// The next status report for `payment`, through the native API or a dialect, and its token.
fn status(keys: &Keys, payment: &Owned, random: &mut Random, token: String) -> (Api, (Request, String)) {
    let next = payment.step + 1;
    // Authorized has no word in Teljoy (on-hold is pending) or Omnicasa (Mollie has none).
    let api = match (next, random.below(3)) {
        (2, _) | (_, 0) => Api::Native,
        (_, 1) => Api::Teljoy,
        _ if payment.clean => Api::Omnicasa,
        _ => Api::Teljoy,
    };
    let request = match api {
        Api::Native => {
            let key = (random.below(2) == 0).then(|| format!("key-{token}"));
            let body = json!({"status": STATUSES[next], "reason": token});
            let mut request =
                native(Method::POST, format!("/v1/payments/{}/status", payment.id), &keys.admin, body, key);
            request.idempotent = true;
            request
        }
        Api::Teljoy => Request {
            method: Method::POST,
            path: format!("/api/v1/status/{}", payment.id),
            headers: vec![("api-key", keys.teljoy.clone())],
            // Teljoy keeps members it does not know in the event's copy of the body.
            body: json!({"id": payment.id, "status": if next == 1 { "pending" } else { "completed" }, "crash_token": token})
                .to_string(),
            key: None,
            idempotent: true,
        },
        Api::Omnicasa => Request {
            method: Method::POST,
            path: format!("/payment/update-order/{}", keys.omnicasa),
            headers: vec![],
            // Omnicasa ignores unknown members and keeps the raw body with the event.
            body: json!({"OrderId": payment.reference, "StatusId": if next == 1 { 3 } else { 2 }, "LanguageId": 3, "CrashToken": token})
                .to_string(),
            key: None,
            idempotent: true,
        },
    };
    (api, (request, token))
}
