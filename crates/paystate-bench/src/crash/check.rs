//! What the crash test checks once the last server is up: the event log and the payments read
//! back through the API, against what the writers sent and what the webhook receiver got.

use super::workload::{Op, Outcome, Record};
use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// A GET of the API as the tenant's admin, answered 2xx with JSON. Errors never carry the URL
/// (it may hold a payment's id, but no secret; the key is a header).
pub async fn get_json(client: &reqwest::Client, url: impl reqwest::IntoUrl, admin: &str) -> Result<Value> {
    let response = client.get(url).bearer_auth(admin).send().await.map_err(reqwest::Error::without_url)?;
    Ok(response.error_for_status().map_err(reqwest::Error::without_url)?.json().await?)
}

/// Reads every event of a tenant, in sequence order.
pub async fn events(client: &reqwest::Client, base: &str, admin: &str) -> Result<Vec<Value>> {
    let mut all = Vec::new();
    let mut after = 0i64;
    // Bounded: 10,000 pages of 1,000 is far more than a run writes.
    for _ in 0..10_000 {
        let page: Value = get_json(client, format!("{base}/v1/events?after={after}&limit=1000"), admin).await?;
        let data = page["data"].as_array().context("an event page without data")?;
        all.extend(data.iter().cloned());
        after = page["next_after"].as_i64().context("an event page without next_after")?;
        if !page["has_more"].as_bool().unwrap_or(false) {
            return Ok(all);
        }
    }
    bail!("more than 10,000 pages of events")
}

/// Reads every payment of a tenant, by id.
pub async fn payments(client: &reqwest::Client, base: &str, admin: &str) -> Result<HashMap<String, Value>> {
    let mut all = HashMap::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100_000 {
        let mut url = format!("{base}/v1/payments?limit=100");
        if let Some(cursor) = &cursor {
            url.push_str(&format!("&cursor={cursor}"));
        }
        let page: Value = get_json(client, url, admin).await?;
        for payment in page["data"].as_array().context("a payment page without data")? {
            all.insert(payment["id"].as_str().unwrap_or_default().to_owned(), payment.clone());
        }
        match page["next_cursor"].as_str() {
            Some(next) if page["has_more"].as_bool().unwrap_or(false) => cursor = Some(next.to_owned()),
            _ => return Ok(all),
        }
    }
    bail!("more than 100,000 pages of payments")
}

/// Compares the trail `GET /v1/payments/{id}/events` gives with the tenant's log, for up to
/// `sample` payments: the payment's events must be the log's events of that payment, in order.
/// Answers the ids of the payments whose trails differ.
pub async fn trails_agree(
    client: &reqwest::Client,
    base: &str,
    admin: &str,
    events: &[Value],
    sample: usize,
) -> Result<Vec<String>> {
    let mut expected: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for event in events {
        if let Some(id) = event["payment_id"].as_str() {
            expected.entry(id).or_default().push(event["seq"].as_i64().unwrap_or(-1));
        }
    }
    let mut differ = Vec::new();
    for (id, seqs) in expected.into_iter().take(sample) {
        let mut got = Vec::new();
        let mut after = 0;
        // Bounded: a payment of this test has a few hundred events at most.
        for _ in 0..1_000 {
            let page: Value =
                get_json(client, format!("{base}/v1/payments/{id}/events?after={after}&limit=1000"), admin).await?;
            got.extend(page["data"].as_array().into_iter().flatten().map(|e| e["seq"].as_i64().unwrap_or(-1)));
            after = page["next_after"].as_i64().unwrap_or(after);
            if !page["has_more"].as_bool().unwrap_or(false) {
                break;
            }
        }
        if got != seqs {
            differ.push(id.to_owned());
        }
    }
    Ok(differ)
}

/// What the checks found.
#[derive(Default)]
pub struct Findings {
    /// Violations by kind.
    pub violations: BTreeMap<&'static str, usize>,
    /// A few examples, to start looking from.
    pub examples: Vec<String>,
    /// Extra events of tokens seen more than once (all kinds).
    pub duplicates: usize,
    /// Refunds applied more than once for one request (one token).
    pub double_refunds: usize,
    /// Of those, refunds sent with an Idempotency-Key (the bug of issue 19).
    pub double_refunds_keyed: usize,
    /// Requests without an answer that were not resent, and turned out to have been applied.
    pub unknown_applied: usize,
    pub events: usize,
}

impl Findings {
    fn violation(&mut self, kind: &'static str, example: impl FnOnce() -> String) {
        *self.violations.entry(kind).or_default() += 1;
        if self.examples.len() < 12 {
            self.examples.push(format!("{kind}: {}", example()));
        }
    }

    pub fn total(&self) -> usize {
        self.violations.values().sum()
    }
}

/// The tokens of this run in an event's request body.
fn tokens<'a>(body: &'a str, run: &str) -> Vec<&'a str> {
    let mut found: Vec<&str> = Vec::new();
    let mut rest = 0;
    while let Some(at) = body[rest..].find(run).map(|i| i + rest) {
        let tail = &body[at + run.len()..];
        let len = tail.find(|c: char| !(c.is_ascii_digit() || c == '-')).unwrap_or(tail.len());
        let token = &body[at..at + run.len() + len];
        if !found.contains(&token) {
            found.push(token);
        }
        rest = at + run.len() + len;
    }
    found
}

/// A status's place in the lattice open < pending < authorized < {paid, failed, expired,
/// canceled}, paid < reversed.
fn rank(status: &str) -> Option<u8> {
    Some(match status {
        "open" => 0,
        "pending" => 1,
        "authorized" => 2,
        "paid" | "failed" | "expired" | "canceled" => 3,
        "reversed" => 4,
        _ => return None,
    })
}

/// Whether a payment may go from `from` to `to` (or stay).
fn forward(from: &str, to: &str) -> bool {
    match (rank(from), rank(to)) {
        _ if from == to => true,
        (Some(4), _) => false,
        (Some(_), Some(4)) => from == "paid",
        (Some(a), Some(b)) => a < b,
        _ => false,
    }
}

/// An event of the tenant's set-up (keys, webhook endpoints): it belongs to no order and no
/// payment. Part of it happens before any endpoint exists, so no webhook is owed for it either.
pub fn is_set_up(event: &Value) -> bool {
    event["order_id"].is_null() && event["payment_id"].is_null()
}

/// Checks one tenant's event log and payments against the writers' records of that tenant.
pub fn check(
    findings: &mut Findings,
    run: &str,
    records: &[&Record],
    events: &[Value],
    payments: &HashMap<String, Value>,
) {
    findings.events += events.len();
    // Event numbers: 1, 2, 3… with no gap and no repeat.
    for (i, event) in events.iter().enumerate() {
        let seq = event["seq"].as_i64().unwrap_or(-1);
        if seq != i as i64 + 1 {
            findings.violation("event numbers not gap-free", || format!("event #{} has seq {seq}", i + 1));
            break;
        }
    }
    // Each token's events, by type: one request may write several (a Norce hook writes the
    // order, the payment and its status), but never two of one type.
    let mut seen: HashMap<&str, BTreeMap<&str, usize>> = HashMap::new();
    for event in events {
        // The tenant's own set-up is in the log too (the harness creates webhook endpoints and
        // keys before the run, recorded as `webhook_endpoint.created`, `api_key.created`…). Such
        // an audit event belongs to no order and no payment and carries no writer's token: it
        // is none of the workload's business, so it is neither flagged nor counted to a token.
        if is_set_up(event) {
            continue;
        }
        let body = event["request_body"].as_str().unwrap_or_default();
        let found = tokens(body, run);
        if found.is_empty() {
            let kind = event["type"].as_str().unwrap_or_default().to_owned();
            findings.violation("event nobody sent", || format!("seq {} {kind} carries no token", event["seq"]));
        }
        for token in found {
            *seen.entry(token).or_default().entry(event["type"].as_str().unwrap_or_default()).or_default() += 1;
        }
    }
    let by_token: HashMap<&str, &Record> = records.iter().map(|r| (r.token.as_str(), *r)).collect();
    for token in seen.keys() {
        if !by_token.contains_key(token) {
            findings.violation("event nobody sent", || format!("token {token} was never sent"));
        }
    }
    for record in records {
        let types = seen.get(record.token.as_str());
        let count = types.map_or(0, |t| t.values().sum::<usize>());
        let extra = types.map_or(0, |t| t.values().map(|n| n - 1).sum::<usize>());
        let describe = || {
            format!(
                "{} {:?} {:?} {} {:?}{}: events {:?}",
                record.token,
                record.op,
                record.api,
                if record.keyed { "with key" } else { "without key" },
                record.outcome,
                if record.resent { " (resent)" } else { "" },
                types.cloned().unwrap_or_default()
            )
        };
        if extra > 0 {
            findings.duplicates += extra;
            if record.op == Op::Refund {
                findings.double_refunds += extra;
                if record.keyed {
                    findings.double_refunds_keyed += extra;
                }
            }
            let kind = match record.op {
                Op::Refund => "refund applied twice",
                Op::Chargeback => "chargeback applied twice",
                Op::CreateOrder | Op::CreatePayment => "create applied twice",
                Op::Status => "status report applied twice",
            };
            findings.violation(kind, describe);
        }
        match record.outcome {
            Outcome::Acked if count == 0 => findings.violation("acknowledged write lost", describe),
            Outcome::Unknown if count > 0 => findings.unknown_applied += 1,
            Outcome::Refused(_) if record.keyed && record.resent => {
                // The same key must give the same answer: a refusal after a crash means the
                // retry ran the request again against the state the first run left.
                findings.violation("keyed retry refused instead of replayed", describe)
            }
            Outcome::Refused(_) => findings.violation("valid request refused", describe),
            Outcome::Claimed => findings.violation("key still claimed after the drain", describe),
            _ => {}
        }
    }
    // Each payment's trail: never backwards, amounts equal to their events.
    let mut trails: HashMap<&str, Vec<&Value>> = HashMap::new();
    for event in events {
        if let Some(id) = event["payment_id"].as_str() {
            trails.entry(id).or_default().push(event);
        }
    }
    for (id, trail) in &trails {
        let mut status = "open";
        let (mut refunded, mut charged_back) = (0i64, 0i64);
        for event in trail {
            let now = event["data"]["status"].as_str().unwrap_or_default();
            if !forward(status, now) {
                findings.violation("payment regressed", || format!("{id} went from {status} to {now}"));
            }
            status = now;
            // Each adjustment's event shows the payment after it: its total must be the sum of
            // the adjustments so far, or one was applied to a state it did not see.
            for (kind, field, sum) in [
                ("payment.refunded", "amount_refunded", &mut refunded),
                ("payment.charged_back", "amount_charged_back", &mut charged_back),
            ] {
                if event["type"] == kind {
                    *sum += event["detail"]["amount"].as_i64().unwrap_or(0);
                    if event["data"][field].as_i64() != Some(*sum) {
                        findings.violation("amount differs from its events", || {
                            format!(
                                "{id}: {kind} seq {} says {field} {}, its events {sum}",
                                event["seq"], event["data"][field]
                            )
                        });
                    }
                }
            }
        }
        match payments.get(*id) {
            None => findings.violation("payment of an event missing", || id.to_string()),
            Some(payment) => {
                for (field, sum) in [("amount_refunded", refunded), ("amount_charged_back", charged_back)] {
                    if payment[field].as_i64() != Some(sum) {
                        findings.violation("amount differs from its events", || {
                            format!("{id} has {field} {}, its events {sum}", payment[field])
                        });
                    }
                }
                if payment["status"].as_str() != Some(status) {
                    findings.violation("status differs from its events", || {
                        format!("{id} is {}, its last event {status}", payment["status"])
                    });
                }
            }
        }
    }
    for id in payments.keys() {
        if !trails.contains_key(id.as_str()) {
            findings.violation("payment without events", || id.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_read_whole_and_once() {
        let body = r#"{"reference":"crashab-1-2","note":"crashab-1-2","x":"crashab-10-3"}"#;
        assert_eq!(tokens(body, "crashab-"), vec!["crashab-1-2", "crashab-10-3"]);
        assert!(tokens("{}", "crashab-").is_empty());
    }

    #[test]
    fn the_lattice_only_moves_forward() {
        assert!(forward("open", "pending") && forward("paid", "paid") && forward("paid", "reversed"));
        assert!(!forward("paid", "pending") && !forward("paid", "failed") && !forward("canceled", "reversed"));
        assert!(!forward("reversed", "paid") && !forward("open", "bogus"));
    }

    use crate::crash::workload::Api;
    use serde_json::json;

    fn record(token: &str, op: Op, keyed: bool, outcome: Outcome) -> Record {
        Record { token: token.into(), op, api: Api::Native, keyed, tenant: 0, resent: true, outcome }
    }

    fn event(seq: i64, kind: &str, token: &str, status: &str, refunded: i64, amount: i64) -> Value {
        json!({"seq": seq, "type": kind, "payment_id": "pay_1", "request_body": format!("{{\"reason\":\"{token}\"}}"),
            "data": {"status": status, "amount_refunded": refunded, "amount_charged_back": 0}, "detail": {"amount": amount}})
    }

    fn payments(status: &str, refunded: i64) -> HashMap<String, Value> {
        HashMap::from([(
            "pay_1".to_owned(),
            json!({"status": status, "amount_refunded": refunded, "amount_charged_back": 0}),
        )])
    }

    /// A clean log passes, and the harness's own checks catch each kind of damage: the crash
    /// test must be able to fail.
    #[test]
    fn each_kind_of_damage_is_found() {
        let records = [
            record("crashab-0-1", Op::CreatePayment, true, Outcome::Acked),
            record("crashab-0-2", Op::Status, false, Outcome::Acked),
            record("crashab-0-3", Op::Refund, true, Outcome::Acked),
        ];
        let records: Vec<&Record> = records.iter().collect();
        let clean = vec![
            event(1, "payment.created", "crashab-0-1", "open", 0, 0),
            event(2, "payment.status_changed", "crashab-0-2", "paid", 0, 0),
            event(3, "payment.refunded", "crashab-0-3", "paid", 1, 1),
        ];
        let mut findings = Findings::default();
        check(&mut findings, "crashab-", &records, &clean, &payments("paid", 1));
        assert_eq!(findings.total(), 0, "{:?}", findings.examples);

        // Audit events of the tenant's set-up (no order, no payment, no token) are not phantoms;
        // the log still has to be numbered without gaps around them.
        let mut audited = vec![json!({"seq": 1, "type": "webhook_endpoint.created", "payment_id": null,
            "order_id": null, "request_body": "{\"url\":\"http://127.0.0.1:1/hook\"}", "data": {}, "detail": null})];
        audited.extend(clean.iter().cloned().map(|mut e| {
            e["seq"] = json!(e["seq"].as_i64().unwrap() + 1);
            e
        }));
        let mut findings = Findings::default();
        check(&mut findings, "crashab-", &records, &audited, &payments("paid", 1));
        assert_eq!(findings.total(), 0, "{:?}", findings.examples);

        // The refund applied twice (issue 19's bug): a duplicate, and the amounts still agree.
        let mut twice = clean.clone();
        twice.push(event(4, "payment.refunded", "crashab-0-3", "paid", 2, 1));
        let mut findings = Findings::default();
        check(&mut findings, "crashab-", &records, &twice, &payments("paid", 2));
        assert_eq!((findings.double_refunds, findings.double_refunds_keyed), (1, 1));
        assert_eq!(findings.violations.keys().collect::<Vec<_>>(), vec![&"refund applied twice"]);

        // A lost acknowledged write, a gap, a phantom, a regression and amounts that disagree.
        let damaged = vec![
            event(1, "payment.created", "crashab-0-1", "open", 0, 0),
            event(3, "payment.status_changed", "crashab-0-2", "paid", 0, 0),
            event(4, "payment.status_changed", "crashab-9-9", "pending", 5, 0),
        ];
        let mut findings = Findings::default();
        check(&mut findings, "crashab-", &records, &damaged, &payments("paid", 0));
        for kind in [
            "acknowledged write lost",
            "event numbers not gap-free",
            "event nobody sent",
            "payment regressed",
            "status differs from its events",
        ] {
            assert!(findings.violations.contains_key(kind), "{kind} not found: {:?}", findings.violations);
        }
    }
}
