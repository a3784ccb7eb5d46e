//! `paystate serve` killed with SIGKILL while it publishes to NATS JetStream: a `paystate worker`
//! started afterwards publishes the rest, and JetStream drops what both sent.

use super::{Served, paystate, temp_sqlite};
use serde_json::{Value, json};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A stream and subjects of this run's own: the shared server may hold other streams (an earlier
/// run's, another paystate's) and one subject belongs to one stream only.
fn stream_name() -> String {
    format!("PAYSTATE_CLI_TEST_{}", std::process::id())
}

fn subject_prefix() -> String {
    format!("paystate_cli_test_{}", std::process::id())
}

/// The NATS server of the tests, when one answers.
async fn nats() -> Option<async_nats::jetstream::Context> {
    let url = std::env::var("PAYSTATE_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let connected = async_nats::ConnectOptions::new().connection_timeout(Duration::from_secs(2)).connect(&url).await;
    match connected {
        Ok(client) => Some(async_nats::jetstream::new(client)),
        Err(_) if std::env::var_os("PAYSTATE_TEST_NATS_URL").is_none() => None,
        Err(error) => panic!("PAYSTATE_TEST_NATS_URL is set but does not answer: {error}"),
    }
}

fn nats_url() -> String {
    std::env::var("PAYSTATE_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

async fn stored(context: &async_nats::jetstream::Context) -> u64 {
    match context.get_stream(stream_name()).await {
        Ok(mut stream) => stream.info().await.map(|info| info.state.messages).unwrap_or(0),
        Err(_) => 0,
    }
}

fn spawn(args: &[&str], database_url: &str) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_paystate"))
        // Outside the checkout: a PostgreSQL run keeps its sealing key file in the working directory.
        .current_dir(std::env::temp_dir())
        .args(args)
        .env("PAYSTATE_DATABASE_URL", database_url)
        .env("PAYSTATE_NATS_URL", nats_url())
        .env("PAYSTATE_NATS_STREAM", stream_name())
        .env("PAYSTATE_NATS_SUBJECT_PREFIX", subject_prefix())
        .env("PAYSTATE_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_publish_loses_no_event() {
    let Some(context) = nats().await else {
        eprintln!("skipped: no NATS server answers (set PAYSTATE_TEST_NATS_URL)");
        return;
    };
    let _ = context.delete_stream(stream_name()).await;
    paystate_webhooks::install_default_crypto_provider();
    let (dir, url) = temp_sqlite();
    let tenant = super::json_of(&paystate(&["tenant", "create", "Killed", "--json"], &url));
    let key = tenant["api_key"].as_str().unwrap().to_owned();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut server = Served {
        child: spawn(&["serve", "--listen", &format!("127.0.0.1:{port}")], &url),
        base: format!("http://127.0.0.1:{port}"),
    };
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !client.get(format!("{}/readyz", server.base)).send().await.is_ok_and(|r| r.status() == 200) {
        assert!(Instant::now() < deadline, "paystate serve did not become ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let total = 600;
    let writes = (0..total).map(|i| {
        let request = client.post(format!("{}/v1/orders", server.base)).bearer_auth(&key);
        let body = json!({"reference": format!("K-{i}"), "currency": "EUR", "total_amount": 100});
        async move { request.json(&body).send().await.unwrap().status().as_u16() }
    });
    let statuses = futures::future::join_all(writes).await;
    assert!(statuses.iter().all(|s| *s == 201));
    while stored(&context).await < 50 {
        assert!(Instant::now() < deadline, "the server publishes");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    let at_kill = stored(&context).await;
    assert!(at_kill < total, "killed mid-publish ({at_kill} of {total} stored)");

    // A worker takes over once the dead server's lease (30 s) has run out.
    let worker = Served { child: spawn(&["worker"], &url), base: String::new() };
    let deadline = Instant::now() + Duration::from_secs(90);
    while stored(&context).await < total {
        assert!(Instant::now() < deadline, "the worker publishes the rest");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut stream = context.get_stream(stream_name()).await.unwrap();
    let state = stream.info().await.unwrap().state.clone();
    assert_eq!(state.messages, total, "each event once: JetStream dropped the copies");
    for (index, sequence) in (state.first_sequence..=state.last_sequence).enumerate() {
        let message = stream.get_raw_message(sequence).await.unwrap();
        let event: Value = serde_json::from_slice(&message.payload).unwrap();
        assert_eq!(event["seq"], index as u64 + 1, "in seq order");
        assert_eq!(message.headers.get("Nats-Msg-Id").unwrap().as_str(), event["id"].as_str().unwrap());
    }
    drop(worker);
    let _ = context.delete_stream(stream_name()).await;
    let _ = std::fs::remove_dir_all(dir);
}
