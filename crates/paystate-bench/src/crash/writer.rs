//! The crash test's writers.
//!
//! Each writer owns its payments (so one payment's requests go out one at a time, in order) and
//! loops: create an order and its payment (through the native API, or a first Norce hook that
//! creates both), move a payment one step along open → pending → authorized → paid (through the
//! native API or a dialect: Teljoy, Omnicasa, Norce, Gormic), or refund or charge back 1 minor
//! unit of a paid one. Every request carries a unique token that lands in its events'
//! `request_body`, so the checks can count each request's events.

use super::workload::{Api, Keys, Op, Outcome, Request, Shared};
use crate::load::Random;
use crate::prepare::{NORCE_CHANNEL, NORCE_MERCHANT};
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::atomic::Ordering;
use std::time::Instant;

/// The amount of every order and payment, in cents: room for many 1-cent refunds.
const AMOUNT: i64 = 100_000;
/// The most payments a writer keeps moving at once.
const OWNED: usize = 12;
const STATUSES: [&str; 4] = ["open", "pending", "authorized", "paid"];

/// A payment a writer moves along.
struct Owned {
    /// Its paystate id, or its external id for a payment a Norce hook created.
    id: String,
    /// Its order's reference (Omnicasa names the order, not the payment).
    reference: String,
    /// 0 open, 1 pending, 2 authorized, 3 paid.
    step: usize,
    /// Created by one request answered at once: its order surely has no second payment, so
    /// Omnicasa (which picks the order's payment itself) reaches this one.
    clean: bool,
    /// The Norce order and payment ids, for a payment a Norce hook created.
    norce: Option<(String, String)>,
}

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

/// An `Idempotency-Key` for `percent` of the requests (none in a run `--without-keys`).
fn key(shared: &Shared, random: &mut Random, percent: usize, token: &str) -> Option<String> {
    (shared.with_keys && random.below(100) < percent).then(|| format!("key-{token}"))
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
            let created = if random.below(4) == 0 {
                create_through_norce(shared, keys, tenant, &mut token).await
            } else {
                create(shared, keys, tenant, &mut random, &mut token).await
            };
            owned.extend(created);
        } else {
            let i = random.below(owned.len());
            let payment = &mut owned[i];
            let keep = if payment.step < 3 {
                let token = token();
                let (api, request) = status(shared, keys, payment, &mut random, &token);
                let (outcome, _) = shared.perform(Op::Status, api, tenant, token, request).await;
                payment.step += 1;
                outcome == Outcome::Acked
            } else {
                let (op, path) = match random.below(10) {
                    0 => (Op::Chargeback, format!("/v1/payments/{}/chargebacks", payment.id)),
                    _ => (Op::Refund, format!("/v1/payments/{}/refunds", payment.id)),
                };
                let token = token();
                let body = json!({"amount": 1, "reason": token});
                let request = native(Method::POST, path, &keys.admin, body, key(shared, &mut random, 80, &token));
                let (outcome, _) = shared.perform(op, Api::Native, tenant, token, request).await;
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

/// An order and its payment through the native API, each with or without an `Idempotency-Key`.
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
    let body = json!({"reference": reference, "currency": "EUR", "total_amount": AMOUNT, "attributes": {"crash_token": token_of_order}});
    let request =
        native(Method::POST, "/v1/orders".into(), &keys.admin, body, key(shared, random, 50, &token_of_order));
    let (outcome, order) = shared.perform(Op::CreateOrder, Api::Native, tenant, token_of_order, request).await;
    let order_id = order.get("id").and_then(Value::as_str).filter(|_| outcome == Outcome::Acked)?.to_owned();
    let note = token();
    // No external id on purpose: nothing but the Idempotency-Key keeps a retried create single.
    let body = json!({"order_id": order_id, "amount": AMOUNT, "note": note});
    let request = native(Method::POST, "/v1/payments".into(), &keys.admin, body, key(shared, random, 50, &note));
    let before = shared.records.lock().expect("records").len();
    let (outcome, payment) = shared.perform(Op::CreatePayment, Api::Native, tenant, note, request).await;
    let id = payment.get("id").and_then(Value::as_str).filter(|_| outcome == Outcome::Acked)?.to_owned();
    let clean = !shared.records.lock().expect("records")[before].resent;
    Some(Owned { id, reference, step: 0, clean, norce: None })
}

/// A first Norce hook, which creates the order and its payment (pending) in one transaction:
/// resent keyless, as Norce's checkout does, because the hook names both by its own ids.
async fn create_through_norce(
    shared: &Shared,
    keys: &Keys,
    tenant: usize,
    token: &mut impl FnMut() -> String,
) -> Option<Owned> {
    let token = token();
    let ids = (token.replacen("crash", "no", 1), token.replacen("crash", "np", 1));
    let request = norce(keys, &ids, 1, &token);
    let (outcome, _) = shared.perform(Op::CreatePayment, Api::Norce, tenant, token, request).await;
    let reference = format!("norce:{NORCE_MERCHANT}:{}", ids.0);
    let id = format!("{reference}:{}", ids.1);
    (outcome == Outcome::Acked).then_some(Owned { id, reference, step: 1, clean: false, norce: Some(ids) })
}

/// The next status report for `payment`, through the native API or a dialect.
fn status(shared: &Shared, keys: &Keys, payment: &Owned, random: &mut Random, token: &str) -> (Api, Request) {
    let next = payment.step + 1;
    let api = match (&payment.norce, next, random.below(5)) {
        (Some(_), _, 0) => Api::Native,
        (Some(_), _, _) => Api::Norce,
        // Authorized has no word in Teljoy (on-hold is pending), Omnicasa (Mollie has none) or
        // Gormic (progress reads as pending).
        (None, 2, _) | (None, _, 0) => Api::Native,
        (None, _, 1) => Api::Teljoy,
        (None, _, 2) => Api::Gormic,
        (None, _, _) if payment.clean => Api::Omnicasa,
        (None, _, _) => Api::Teljoy,
    };
    let paid = next == 3;
    let mut request = match api {
        Api::Native => {
            let body = json!({"status": STATUSES[next], "reason": token});
            let path = format!("/v1/payments/{}/status", payment.id);
            native(Method::POST, path, &keys.admin, body, key(shared, random, 50, token))
        }
        Api::Teljoy => Request {
            method: Method::POST,
            path: format!("/api/v1/status/{}", payment.id),
            headers: vec![("api-key", keys.teljoy.clone())],
            // Teljoy keeps members it does not know in the event's copy of the body.
            body: json!({"status": if paid { "completed" } else { "pending" }, "crash_token": token}).to_string(),
            key: None,
            idempotent: false,
        },
        Api::Omnicasa => Request {
            method: Method::POST,
            path: format!("/payment/update-order/{}", keys.omnicasa),
            headers: vec![],
            // Omnicasa ignores unknown members and keeps the raw body with the event.
            body: json!({"OrderId": payment.reference, "StatusId": if paid { 2 } else { 3 }, "LanguageId": 3, "CrashToken": token})
                .to_string(),
            key: None,
            idempotent: false,
        },
        Api::Gormic => Request {
            method: Method::PATCH,
            path: format!("/v1/om/payments/{}", payment.id),
            headers: vec![("api-key", keys.gormic.clone()), ("organization-id", keys.tenant_id.clone())],
            // Gormic refuses members it does not document: the token is the payment's note.
            body: json!({"params": {"status": if paid { "complete" } else { "pending" }, "note": token}}).to_string(),
            key: None,
            idempotent: false,
        },
        Api::Norce => norce(keys, payment.norce.as_ref().expect("a Norce payment"), next, token),
    };
    // A status report sent again is answered unchanged by the status machine, key or not.
    request.idempotent = true;
    (api, request)
}

/// A Norce checkout's hook: the whole order, its one payment in the state of `step`, modified
/// now (a resend keeps the same body, so it is the same hook).
fn norce(keys: &Keys, (order, payment): &(String, String), step: usize, token: &str) -> Request {
    let state = ["Intent", "Pending", "Reserved", "Captured"][step];
    let status = ["Checkout", "Processing", "Accepted", "Completed"][step];
    let total = json!({"includingVat": AMOUNT as f64 / 100.0});
    let body = json!({
        "id": order, "merchant": NORCE_MERCHANT, "channel": NORCE_CHANNEL, "reference": order,
        "lastModified": paystate_ledger::now().to_rfc3339(),
        "state": {"currentStatus": status}, "currency": "EUR", "total": total,
        "cart": {"items": [{"reference": "SKU-1", "name": "Crash test", "quantity": 1, "price": total, "total": total}], "total": total},
        "payments": [{"id": payment, "adapterId": "crash-psp", "name": "Crash PSP", "currency": "EUR", "type": "default",
            "orderId": order, "amount": AMOUNT as f64 / 100.0, "state": state, "attributes": {}}],
        "customer": {"billing": {"givenName": "Crash", "familyName": "Test", "country": "NL"}, "type": "Person"},
        // Norce keeps the order's attributes, and the event the whole body.
        "attributes": {"crash_token": token}
    });
    Request {
        method: Method::POST,
        path: format!("/api/checkout/v1/callback/orders/{order}/payments/{payment}/update-payment"),
        headers: vec![
            ("authorization", format!("Bearer {}", keys.norce)),
            ("x-merchant", NORCE_MERCHANT.to_owned()),
            ("x-channel", NORCE_CHANNEL.to_owned()),
        ],
        body: body.to_string(),
        key: None,
        idempotent: true,
    }
}
