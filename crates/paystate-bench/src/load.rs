//! The load generator (a Rust HTTP client of our own, so the benchmark needs nothing installed),
//! the server processes it drives, and the report.

use crate::Cli;
use crate::prepare::{AMOUNT, CHAIN, Fixture, NORCE_CHANNEL, NORCE_MERCHANT, Target};
use anyhow::{Context, Result, bail};
use hdrhistogram::Histogram;
use serde_json::json;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// A small xorshift generator: enough to spread requests, no dependency.
pub struct Random(u64);

impl Random {
    pub fn new(seed: u64) -> Self {
        Random(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Traffic {
    /// Native status updates, every one a forward move.
    #[value(name = "updates")]
    StatusUpdates,
    /// Reads of one payment.
    Reads,
    /// 65 % status updates (25 % native, 10 % through each of the four dialects), 25 % reads,
    /// 10 % new orders.
    #[value(name = "mix")]
    Mixed,
    /// The framework ceiling: POSTs to the bare echo server.
    #[value(skip)]
    Echo,
}

impl Traffic {
    pub fn name(self) -> &'static str {
        match self {
            Traffic::StatusUpdates => "paystate: native status updates",
            Traffic::Reads => "paystate: reads of one payment",
            Traffic::Mixed => "paystate: mix (65% updates over 5 APIs, 25% reads, 10% creates)",
            Traffic::Echo => "ceiling: bare axum JSON echo",
        }
    }
}

/// One measurement: throughput, latency percentiles and errors.
pub struct Measurement {
    pub name: String,
    pub requests: u64,
    pub errors: u64,
    pub seconds: f64,
    pub throughput: f64,
    pub latency_ms: Option<[f64; 3]>,
}

impl Measurement {
    pub fn counted(name: &str, requests: u64, errors: u64, seconds: f64) -> Self {
        Measurement {
            name: name.into(),
            requests,
            errors,
            seconds,
            throughput: requests as f64 / seconds.max(1e-9),
            latency_ms: None,
        }
    }

    pub fn to_json(&self, cli: &Cli, peak_memory_kib: Option<u64>) -> serde_json::Value {
        json!({
            "name": self.name,
            "database": cli.database,
            "orders": cli.orders,
            "connections": cli.connections,
            "client_threads": cli.client_threads,
            "seconds": self.seconds,
            "requests": self.requests,
            "errors": self.errors,
            "throughput_per_s": self.throughput,
            "p50_ms": self.latency_ms.map(|l| l[0]),
            "p99_ms": self.latency_ms.map(|l| l[1]),
            "p999_ms": self.latency_ms.map(|l| l[2]),
            "server_peak_rss_kib": peak_memory_kib,
            "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        })
    }
}

/// A server process under load.
pub struct Server {
    pub base: String,
    child: Child,
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Server {
    pub async fn start(binary: &std::path::Path, database_url: &str) -> Result<Server> {
        let port = free_port()?;
        let child = std::process::Command::new(binary)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--database-url", database_url])
            .env("PAYSTATE_LOG", "warn")
            // Files the server creates beside itself (a sealing key for PostgreSQL) stay out of the checkout.
            .current_dir(std::env::temp_dir())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        Server::ready(child, port, "/readyz").await
    }

    pub async fn start_echo() -> Result<Server> {
        let port = free_port()?;
        let child = std::process::Command::new(std::env::current_exe()?)
            .args(["echo-server", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .spawn()?;
        Server::ready(child, port, "/echo").await
    }

    async fn ready(child: Child, port: u16, path: &str) -> Result<Server> {
        let server = Server { base: format!("http://127.0.0.1:{port}"), child };
        let client = reqwest::Client::new();
        for _ in 0..300 {
            if client.get(format!("{}{path}", server.base)).send().await.is_ok_and(|r| r.status().is_success()) {
                return Ok(server);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("the server on port {port} did not become ready")
    }

    /// The server's peak resident memory (VmHWM), in KiB.
    pub fn peak_memory_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The bare framework: axum answering a JSON echo, nothing else.
pub async fn echo_server(listen: &str) -> Result<()> {
    use axum::routing::get;
    async fn echo(axum::Json(body): axum::Json<serde_json::Value>) -> axum::Json<serde_json::Value> {
        axum::Json(body)
    }
    let app = axum::Router::new().route("/echo", get(|| async { axum::Json(json!({"status": "ok"})) }).post(echo));
    let listener = tokio::net::TcpListener::bind(listen).await?;
    axum::serve(listener, app).await?;
    Ok(())
}

/// Drives `traffic` with `connections` concurrent clients for `duration`, spread over `threads`
/// threads that each run an event loop of their own (a current-thread runtime), as wrk does.
/// A work-stealing runtime would hand requests between the load generator's threads, and every
/// hand-over wakes a thread on another core: on a small machine whose cores the server shares,
/// those wake-ups took CPU from the server (bench/README.md has the figures).
pub async fn drive(
    base: &str,
    fixture: &Fixture,
    traffic: Traffic,
    connections: usize,
    threads: usize,
    duration: Duration,
) -> Measurement {
    let threads = threads.clamp(1, connections.max(1));
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let results: Vec<Vec<(Histogram<u64>, u64, u64)>> = tokio::task::block_in_place(|| {
        std::thread::scope(|scope| {
            let loops: Vec<_> = (0..threads)
                .map(|thread| {
                    scope.spawn(move || {
                        let runtime = tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()
                            .expect("a load generator runtime");
                        let client = reqwest::Client::builder()
                            .pool_max_idle_per_host(connections)
                            .build()
                            .expect("an HTTP client");
                        let workers = (thread..connections)
                            .step_by(threads)
                            .map(|worker| run_worker(&client, base, fixture, traffic, worker, connections, deadline));
                        runtime.block_on(futures::future::join_all(workers))
                    })
                })
                .collect();
            loops.into_iter().map(|handle| handle.join().expect("a load generator thread")).collect()
        })
    });
    let seconds = started.elapsed().as_secs_f64();
    let mut histogram = latency_histogram();
    let (mut requests, mut errors) = (0, 0);
    for (h, r, e) in results.into_iter().flatten() {
        let _ = histogram.add(h);
        requests += r;
        errors += e;
    }
    let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
    Measurement {
        name: traffic.name().into(),
        requests,
        errors,
        seconds,
        throughput: requests as f64 / seconds,
        latency_ms: Some([ms(0.5), ms(0.99), ms(0.999)]),
    }
}

/// Latencies in microseconds, from 1 µs to a minute, to 3 significant digits.
fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds")
}

/// One connection of the load generator, sending requests one after the other until `deadline`:
/// its latency histogram, requests and errors.
async fn run_worker(
    client: &reqwest::Client,
    base: &str,
    fixture: &Fixture,
    traffic: Traffic,
    worker: usize,
    connections: usize,
    deadline: Instant,
) -> (Histogram<u64>, u64, u64) {
    let mut histogram = latency_histogram();
    let (mut requests, mut errors) = (0u64, 0u64);
    let mut random = Random::new(worker as u64 + 1);
    // The targets of this worker: every `connections`-th one from `worker` (main makes sure
    // there is one at least). Each payment's updates then go out one at a time and arrive
    // in the order of the chain, as one provider sends them: a report overtaken by the next
    // one would be late, which Gormic refuses (400) where the other APIs answer 200 stale.
    let owned = fixture.targets.len().saturating_sub(worker).div_ceil(connections);
    while Instant::now() < deadline {
        let index = worker + random.below(owned) * connections;
        let request = build(client, base, fixture, traffic, &mut random, index, (worker, requests));
        let sent = Instant::now();
        let ok = match request.send().await {
            Ok(response) => {
                let ok = response.status().is_success();
                let _ = response.bytes().await;
                ok
            }
            Err(_) => false,
        };
        let _ = histogram.record(sent.elapsed().as_micros().max(1) as u64);
        requests += 1;
        if !ok {
            errors += 1;
        }
    }
    (histogram, requests, errors)
}

/// The request `traffic` sends next, about target `index`; `(worker, n)`, the worker and its count
/// of requests so far, name new orders uniquely.
fn build(
    client: &reqwest::Client,
    base: &str,
    fixture: &Fixture,
    traffic: Traffic,
    random: &mut Random,
    index: usize,
    (worker, n): (usize, u64),
) -> reqwest::RequestBuilder {
    let target = &fixture.targets[index];
    let update = |api| update(client, base, target, api, fixture.next_step(index));
    let read = || client.get(format!("{base}/v1/payments/{}", target.payment_id)).bearer_auth(&target.tenant.admin);
    match traffic {
        Traffic::StatusUpdates => update(Api::Native),
        Traffic::Reads => read(),
        Traffic::Mixed => match random.below(100) {
            0..25 => update(Api::Native),
            25..35 => update(Api::Omnicasa),
            35..45 => update(Api::Norce),
            45..55 => update(Api::Gormic),
            55..65 => update(Api::Teljoy),
            65..90 => read(),
            _ => client
                .post(format!("{base}/v1/orders"))
                .bearer_auth(&target.tenant.admin)
                .json(&json!({"reference": format!("NEW-{worker}-{n}-{}", random.below(1 << 30)), "currency": "EUR", "total_amount": 1250})),
        },
        Traffic::Echo => client.post(format!("{base}/echo")).json(&json!({"status": "paid"})),
    }
}

/// The APIs a status update goes through.
#[derive(Clone, Copy)]
enum Api {
    Native,
    Omnicasa,
    Norce,
    Gormic,
    Teljoy,
}

// Each dialect's word for each step of `CHAIN` (open, pending, authorized, paid, reversed), the
// one that maps to that status or, where the dialect has none, the nearest that is still answered
// 2xx whatever the payment holds by then: a step no word expresses leaves the payment where it is,
// and the next step moves it on. The first entry is never sent (payments are prepared open); the
// last one is sent again and again once a payment has walked the whole chain.

/// Omnicasa's `StatusId`: 1 Open, 3 Pending, 2 Paid. Mollie's checks have no authorized (3,
/// pending again: unchanged) and no reversal: 7 HasRefunds would be a conflict (409) for a payment
/// another API reversed, so 2 again (paid: unchanged; reversed: stale).
const OMNICASA: [u8; CHAIN.len()] = [1, 3, 3, 2, 2];
/// Norce's payment states (in the casing of its samples). `credited` is what paystate writes back
/// for a reversed payment: it refunds what remains of a paid one (the status stays paid), and
/// agrees with a reversed one.
const NORCE: [&str; CHAIN.len()] = ["Intent", "Pending", "Reserved", "Captured", "Credited"];
/// Gormic's statuses. `progress` is how Gormic reads an authorized payment, but it reports pending
/// (unchanged). A payment other APIs left open reads as pending in Gormic, hence the first word.
const GORMIC: [&str; CHAIN.len()] = ["pending", "pending", "progress", "complete", "reversed"];
/// WooCommerce order statuses. `on-hold` is where a shop keeps an order whose payment is only
/// authorized (it reports pending: unchanged); `processing` is a paid order. WooCommerce has no
/// reversal, and `refunded` would be a conflict (409) for a payment another API reversed, so
/// `completed` (paid: unchanged; reversed: stale).
const TELJOY: [&str; CHAIN.len()] = ["pending", "pending", "on-hold", "processing", "completed"];

/// A product list, base64 of `[{"sku":"100L5F","quantity":"1"}]` (the sample of Teljoy's page).
const TELJOY_SEED: &str = "W3sic2t1IjoiMTAwTDVGIiwicXVhbnRpdHkiOiIxIn1d";

/// A report of step `step` of `CHAIN` for `target`, through `api`, shaped as that API's own
/// clients send it (see `docs/dialects/` and the dialects' tests in paystate-http).
fn update(client: &reqwest::Client, base: &str, target: &Target, api: Api, step: usize) -> reqwest::RequestBuilder {
    let tenant = &target.tenant;
    match api {
        Api::Native => client
            .post(format!("{base}/v1/payments/{}/status", target.payment_id))
            .bearer_auth(&tenant.admin)
            .json(&json!({"status": CHAIN[step]})),
        Api::Omnicasa => client.post(format!("{base}/payment/update-order/{}", tenant.omnicasa)).json(
            &json!({"OrderId": target.reference, "StatusId": OMNICASA[step], "LanguageId": 3, "IsWriteLogSQL": false}),
        ),
        Api::Norce => client
            .post(format!(
                "{base}/api/checkout/v1/callback/orders/{}/payments/{}/update-payment",
                target.order_number, target.psp_id
            ))
            .bearer_auth(&tenant.norce)
            .header("x-merchant", NORCE_MERCHANT)
            .header("x-channel", NORCE_CHANNEL)
            .header("content-type", "application/json-patch+json")
            .body(norce_order(target, step).to_string()),
        Api::Gormic => client
            .patch(format!("{base}/v1/om/payments/{}", target.payment_id))
            .header("api-key", &tenant.gormic)
            .header("organization-id", tenant.id.as_str())
            .json(&json!({"params": {"status": GORMIC[step]}})),
        Api::Teljoy => client
            .post(format!("{base}/api/v1/status/{}", target.payment_id))
            .header("api-key", &tenant.teljoy)
            // No `trust_Value`: the bench tenants have the trust checks off (see prepare.rs).
            .json(&json!({"id": target.payment_id, "status": TELJOY[step], "trust_Seed": TELJOY_SEED})),
    }
}

/// The whole order a Norce checkout sends to the hook, its one payment in the state of `step`,
/// modified now (so paystate keeps its fields, as it does with a checkout's every change).
fn norce_order(target: &Target, step: usize) -> serde_json::Value {
    let (order, payment) = (&target.order_number, &target.psp_id);
    // The checkout's own order status along the payment's: in checkout, placed, then done.
    let status = ["Checkout", "Processing", "Accepted", "Completed", "Completed"][step];
    let amount = AMOUNT as f64 / 100.0;
    let total = json!({"includingVat": amount});
    json!({
        "id": order,
        "merchant": NORCE_MERCHANT,
        "channel": NORCE_CHANNEL,
        "reference": order,
        "created": "2026-01-05T09:12:44Z",
        "lastModified": paystate_ledger::now().to_rfc3339(),
        "state": {"currentStatus": status},
        "culture": "nl-NL",
        "currency": "EUR",
        "country": "NL",
        "cart": {
            "items": [{"reference": "SKU-1001", "name": "Rain jacket", "quantity": 1, "price": total, "total": total}],
            "total": total
        },
        "payments": [{
            "id": payment, "adapterId": "bench-psp", "name": "Bench PSP", "merchant": NORCE_MERCHANT,
            "channel": NORCE_CHANNEL, "currency": "EUR", "type": "default", "orderId": order,
            "amount": amount, "state": NORCE[step], "reference": payment, "attributes": {}
        }],
        "customer": {
            "billing": {"givenName": "Bench", "familyName": "Customer", "email": "bench@example.com", "country": "NL"},
            "type": "Person"
        },
        "total": total
    })
}

/// The summary table, with the ratios the targets are stated in.
pub fn summary(cli: &Cli, measurements: &[Measurement], peak_memory_kib: Option<u64>) -> String {
    let mut text = format!(
        "\npaystate benchmark: {} with {} orders over {} tenants, {} connections, {} s each, {} cores\n\n",
        cli.database,
        cli.orders,
        cli.tenants,
        cli.connections,
        cli.seconds,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );
    let width = measurements.iter().map(|m| m.name.len()).max().unwrap_or(0).max(55);
    text.push_str(&format!(
        "| {:<width$} | {:>10} | {:>8} | {:>8} | {:>8} | {:>6} |\n",
        "measurement", "per second", "p50 ms", "p99 ms", "p99.9 ms", "errors"
    ));
    let rule = |n: usize| "-".repeat(n);
    text.push_str(&format!("|{}|{}|{}|{}|{}|{}|\n", rule(width + 2), rule(12), rule(10), rule(10), rule(10), rule(8)));
    for m in measurements {
        let [p50, p99, p999] =
            m.latency_ms.map_or(["-".to_string(), "-".to_string(), "-".to_string()], |l| l.map(|v| format!("{v:.2}")));
        text.push_str(&format!(
            "| {:<width$} | {:>10.0} | {:>8} | {:>8} | {:>8} | {:>6} |\n",
            m.name, m.throughput, p50, p99, p999, m.errors
        ));
    }
    let find = |prefix: &str| measurements.iter().find(|m| m.name.starts_with(prefix));
    let ratio = |a: Option<&Measurement>, b: Option<&Measurement>| match (a, b) {
        (Some(a), Some(b)) if b.throughput > 0.0 => Some(a.throughput / b.throughput),
        _ => None,
    };
    let updates = find("paystate: native status updates");
    text.push('\n');
    if let Some(r) = ratio(updates, find("ceiling: store")) {
        text.push_str(&format!(
            "status updates / store one-commit ceiling: {r:.2}x (target {})\n",
            if cli.database == "sqlite" { ">= 2x" } else { "-" }
        ));
    }
    if let Some(r) = ratio(updates, find("ceiling: pgbench, equivalent")) {
        text.push_str(&format!("status updates / pgbench: {r:.2}x (target >= 0.9x)\n"));
    }
    let reads = find("paystate: reads");
    if let Some(r) = ratio(reads, find("ceiling: bare axum")) {
        text.push_str(&format!("reads / bare framework: {r:.2}x (target >= 0.5x)\n"));
    }
    if let Some(r) = ratio(reads, find("ceiling: pgbench, read")) {
        text.push_str(&format!("reads / pgbench reads: {r:.2}x (no target: PostgreSQL's own read rate here)\n"));
    }
    if let Some(p99) = updates.and_then(|u| u.latency_ms).map(|l| l[1]) {
        text.push_str(&format!("p99 of a status update: {p99:.2} ms (target < 20 ms)\n"));
    }
    if let Some(kib) = peak_memory_kib {
        text.push_str(&format!("server peak memory: {:.0} MB (target < 200 MB)\n", kib as f64 / 1024.0));
    }
    text
}
