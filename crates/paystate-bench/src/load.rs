//! The load generator (a Rust HTTP client of our own, so the benchmark needs nothing installed),
//! the server processes it drives, and the report.

use crate::Cli;
use crate::prepare::Fixture;
use anyhow::{Context, Result, bail};
use hdrhistogram::Histogram;
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

#[derive(Clone, Copy)]
pub enum Traffic {
    /// Native status updates, every one a forward move.
    StatusUpdates,
    /// Reads of one payment.
    Reads,
    /// 65 % status updates, 25 % reads, 10 % new orders.
    Mixed,
    /// The framework ceiling: POSTs to the bare echo server.
    Echo,
}

impl Traffic {
    pub fn name(self) -> &'static str {
        match self {
            Traffic::StatusUpdates => "paystate: native status updates",
            Traffic::Reads => "paystate: reads of one payment",
            Traffic::Mixed => "paystate: mix (65% updates, 25% reads, 10% creates)",
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
        serde_json::json!({
            "name": self.name,
            "database": cli.database,
            "orders": cli.orders,
            "connections": cli.connections,
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
    let app = axum::Router::new()
        .route("/echo", get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }).post(echo));
    let listener = tokio::net::TcpListener::bind(listen).await?;
    axum::serve(listener, app).await?;
    Ok(())
}

/// Drives `traffic` with `connections` concurrent clients for `duration`.
pub async fn drive(
    base: &str,
    fixture: &Fixture,
    traffic: Traffic,
    connections: usize,
    duration: Duration,
) -> Measurement {
    let client = reqwest::Client::builder().pool_max_idle_per_host(connections).build().expect("an HTTP client");
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let workers = (0..connections).map(|worker| {
        let client = client.clone();
        async move {
            let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds");
            let (mut requests, mut errors) = (0u64, 0u64);
            let mut random = Random::new(worker as u64 + 1);
            while Instant::now() < deadline {
                let request = build(&client, base, fixture, traffic, &mut random, worker, requests);
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
    });
    let results = futures::future::join_all(workers).await;
    let seconds = started.elapsed().as_secs_f64();
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds");
    let (mut requests, mut errors) = (0, 0);
    for (h, r, e) in results {
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

fn build(
    client: &reqwest::Client,
    base: &str,
    fixture: &Fixture,
    traffic: Traffic,
    random: &mut Random,
    worker: usize,
    n: u64,
) -> reqwest::RequestBuilder {
    let index = random.below(fixture.targets.len());
    let target = &fixture.targets[index];
    let update = || {
        let status = fixture.next_status(index);
        client
            .post(format!("{base}/v1/payments/{}/status", target.payment_id))
            .bearer_auth(&target.key)
            .json(&serde_json::json!({"status": status}))
    };
    let read = || client.get(format!("{base}/v1/payments/{}", target.payment_id)).bearer_auth(&target.key);
    match traffic {
        Traffic::StatusUpdates => update(),
        Traffic::Reads => read(),
        Traffic::Mixed => match random.below(100) {
            0..65 => update(),
            65..90 => read(),
            _ => client
                .post(format!("{base}/v1/orders"))
                .bearer_auth(&target.key)
                .json(&serde_json::json!({"reference": format!("NEW-{worker}-{n}-{}", random.below(1 << 30)), "currency": "EUR", "total_amount": 1250})),
        },
        Traffic::Echo => client.post(format!("{base}/echo")).json(&serde_json::json!({"status": "paid"})),
    }
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
    text.push_str(&format!(
        "| {:<55} | {:>10} | {:>8} | {:>8} | {:>8} | {:>6} |\n",
        "measurement", "per second", "p50 ms", "p99 ms", "p99.9 ms", "errors"
    ));
    text.push_str(&format!("|{:-<57}|{:->12}|{:->10}|{:->10}|{:->10}|{:->8}|\n", "", "", "", "", "", ""));
    for m in measurements {
        let [p50, p99, p999] =
            m.latency_ms.map_or(["-".to_string(), "-".to_string(), "-".to_string()], |l| l.map(|v| format!("{v:.2}")));
        text.push_str(&format!(
            "| {:<55} | {:>10.0} | {:>8} | {:>8} | {:>8} | {:>6} |\n",
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
    if let Some(r) = ratio(updates, find("ceiling: pgbench")) {
        text.push_str(&format!("status updates / pgbench: {r:.2}x (target >= 0.9x)\n"));
    }
    if let Some(r) = ratio(find("paystate: reads"), find("ceiling: bare axum")) {
        text.push_str(&format!("reads / bare framework: {r:.2}x (target >= 0.5x)\n"));
    }
    if let Some(p99) = updates.and_then(|u| u.latency_ms).map(|l| l[1]) {
        text.push_str(&format!("p99 of a status update: {p99:.2} ms (target < 20 ms)\n"));
    }
    if let Some(kib) = peak_memory_kib {
        text.push_str(&format!("server peak memory: {:.0} MB (target < 200 MB)\n", kib as f64 / 1024.0));
    }
    text
}
