//! The `paystate` binary as users and scripts run it: real processes, real databases.

mod nats;
mod users;

use serde_json::{Value, json};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

fn paystate(args: &[&str], database_url: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_paystate"))
        // Outside the checkout: a PostgreSQL run keeps its sealing key file in the working directory.
        .current_dir(std::env::temp_dir())
        .args(args)
        .env("PAYSTATE_DATABASE_URL", database_url)
        .env("PAYSTATE_LOG", "warn")
        .output()
        .expect("paystate runs")
}

fn json_of(output: &Output) -> Value {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("JSON on stdout")
}

fn temp_sqlite() -> (std::path::PathBuf, String) {
    let dir = std::env::temp_dir().join(format!("paystate-cli-{}", paystate_id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("paystate.db").display());
    (dir, url)
}

fn paystate_id() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
    )
}

struct Served {
    child: Child,
    base: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn serve(database_url: &str) -> Served {
    paystate_webhooks::install_default_crypto_provider();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(env!("CARGO_BIN_EXE_paystate"))
        // Outside the checkout: a PostgreSQL run keeps its sealing key file in the working directory.
        .current_dir(std::env::temp_dir())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("PAYSTATE_DATABASE_URL", database_url)
        .env("PAYSTATE_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let served = Served { child, base: format!("http://127.0.0.1:{port}") };
    for _ in 0..200 {
        if reqwest::get(format!("{}/readyz", served.base)).await.is_ok_and(|r| r.status() == 200) {
            return served;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("paystate serve did not become ready");
}

#[test]
fn tenant_and_key_commands_print_json_for_scripts() {
    let (dir, url) = temp_sqlite();
    let tenant = json_of(&paystate(&["tenant", "create", "Acme", "--json"], &url));
    let tenant_id = tenant["tenant_id"].as_str().unwrap();
    assert!(tenant_id.starts_with("ten_"));
    assert!(tenant["api_key"].as_str().unwrap().starts_with("psk_"));

    let key = json_of(&paystate(
        &["key", "create", "--tenant", tenant_id, "--scope", "write", "--dialect", "teljoy", "--json"],
        &url,
    ));
    assert!(key["key_id"].as_str().unwrap().starts_with("key_"));
    assert!(key["api_key"].as_str().unwrap().starts_with("psk_"));
    let listed = json_of(&paystate(&["key", "list", "--tenant", tenant_id, "--json"], &url));
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert!(!listed.to_string().contains(key["api_key"].as_str().unwrap()), "listings never show secrets");
    let revoked =
        json_of(&paystate(&["key", "revoke", "--tenant", tenant_id, key["key_id"].as_str().unwrap(), "--json"], &url));
    assert_eq!(revoked["revoked"], true);

    let migrated = paystate(&["migrate"], &url);
    assert!(migrated.status.success());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn bad_flags_and_unreachable_databases_fail_clearly() {
    let (dir, url) = temp_sqlite();
    let bad_scope = paystate(&["key", "create", "--tenant", "ten_x", "--scope", "root"], &url);
    assert_eq!(bad_scope.status.code(), Some(2), "clap's usage error");
    let bad_tenant = paystate(&["key", "create", "--tenant", "nope", "--scope", "read"], &url);
    assert_eq!(bad_tenant.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad_tenant.stderr).contains("not a tenant id"));
    let unknown_tenant =
        paystate(&["key", "create", "--tenant", "ten_0192f3c4000000000000000000000000", "--scope", "read"], &url);
    assert!(String::from_utf8_lossy(&unknown_tenant.stderr).contains("no tenant"));

    let unreachable = paystate(&["migrate"], "postgres://paystate:hunter2secret@127.0.0.1:1/paystate");
    assert_eq!(unreachable.status.code(), Some(1));
    let message = String::from_utf8_lossy(&unreachable.stderr);
    assert!(message.contains("cannot"), "{message}");
    assert!(!message.contains("hunter2secret"), "the password never appears: {message}");

    let missing_dir = paystate(&["migrate"], "sqlite:///nonexistent-dir/deeper/paystate.db");
    assert_eq!(missing_dir.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing_dir.stderr).contains("cannot migrate the SQLite database"));
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_port_in_use_is_reported() {
    let (dir, url) = temp_sqlite();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let output = paystate(&["serve", "--listen", &address], &url);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains(&format!("cannot listen on {address}")));
    let _ = std::fs::remove_dir_all(dir);
}

/// A SQLite file takes one server (its payment cache relies on that), and the CLI beside it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_file_takes_one_server_and_the_cli_beside_it() {
    let (dir, url) = temp_sqlite();
    let served = serve(&url).await;
    let second = paystate(&["serve", "--listen", "127.0.0.1:0"], &url);
    assert_eq!(second.status.code(), Some(1));
    let message = String::from_utf8_lossy(&second.stderr);
    assert!(message.contains("another paystate server is serving"), "{message}");

    let tenant = json_of(&paystate(&["tenant", "create", "Beside", "--json"], &url));
    let listed = reqwest::Client::new()
        .get(format!("{}/v1/payments", served.base))
        .bearer_auth(tenant["api_key"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200, "the server knows the key the CLI made");
    drop(served);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_while_serving_and_restore_once_stopped() {
    let (dir, url) = temp_sqlite();
    let served = serve(&url).await;
    let kept = json_of(&paystate(&["tenant", "create", "Kept", "--json"], &url));
    let copy = dir.join("copy.db");
    let copy_arg = copy.display().to_string();
    let backed_up = paystate(&["backup", "--to", &copy_arg], &url);
    assert!(backed_up.status.success(), "{}", String::from_utf8_lossy(&backed_up.stderr));
    let lost = json_of(&paystate(&["tenant", "create", "After the backup", "--json"], &url));
    let refused = paystate(&["restore", "--from", &copy_arg], &url);
    assert_eq!(refused.status.code(), Some(1), "a served database is not restored under the server");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("another paystate server is serving"));
    drop(served);
    let restored = paystate(&["restore", "--from", &copy_arg], &url);
    assert!(restored.status.success(), "{}", String::from_utf8_lossy(&restored.stderr));
    let served = serve(&url).await;
    let status = |key: &Value| {
        let request = reqwest::Client::new()
            .get(format!("{}/v1/tenant", served.base))
            .bearer_auth(key["api_key"].as_str().unwrap().to_owned());
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(status(&kept).await, 200, "written before the backup: restored");
    assert_eq!(status(&lost).await, 401, "written after it: gone");
    let postgres = paystate(&["backup", "--to", &copy_arg], "postgres://nobody@127.0.0.1:1/none");
    assert!(String::from_utf8_lossy(&postgres.stderr).contains("pg_dump"));
    drop(served);
    let _ = std::fs::remove_dir_all(dir);
}

/// Two instances on one PostgreSQL database, hammered with updates of the same payments.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_postgres_database_lose_and_regress_nothing() {
    let Ok(base) = std::env::var("PAYSTATE_TEST_POSTGRES_URL") else {
        eprintln!("skipped: PostgreSQL tests need PAYSTATE_TEST_POSTGRES_URL");
        return;
    };
    let database = paystate_store_postgres::testing::TestDatabase::create(&base).await.unwrap();
    let url = database.url.clone();
    let result = tokio::spawn(async move { hammer_two_instances(&url).await }).await;
    let _ = database.drop_database().await;
    if let Err(error) = result {
        std::panic::resume_unwind(error.into_panic());
    }
}

/// Sends a request with the key and answers the JSON body.
async fn call(client: &reqwest::Client, key: &str, method: reqwest::Method, url: String, body: Option<Value>) -> Value {
    let mut request = client.request(method, url).bearer_auth(key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap().json().await.unwrap()
}

async fn hammer_two_instances(url: &str) {
    let tenant = json_of(&paystate(&["tenant", "create", "Shared", "--json"], url));
    let key = tenant["api_key"].as_str().unwrap().to_owned();
    let (a, b) = (serve(url).await, serve(url).await);
    paystate_webhooks::install_default_crypto_provider();
    // `migrate` is safe while instances serve.
    assert!(paystate(&["migrate"], url).status.success());
    let client = reqwest::Client::new();
    let mut payments = Vec::new();
    for i in 0..4 {
        let order: Value = call(
            &client,
            &key,
            reqwest::Method::POST,
            format!("{}/v1/orders", a.base),
            Some(json!({"reference": format!("MI-{i}"), "currency": "EUR", "total_amount": 100})),
        )
        .await;
        let payment: Value = call(
            &client,
            &key,
            reqwest::Method::POST,
            format!("{}/v1/payments", b.base),
            Some(json!({"order_id": order["id"], "amount": 100})),
        )
        .await;
        payments.push(payment["id"].as_str().unwrap().to_owned());
    }
    let chain = ["pending", "authorized", "paid", "reversed"];
    let mut tasks = Vec::new();
    for task in 0..16usize {
        let (client, key, payments) = (client.clone(), key.clone(), payments.clone());
        let base = if task % 2 == 0 { a.base.clone() } else { b.base.clone() };
        tasks.push(tokio::spawn(async move {
            for i in 0..60usize {
                let payment = &payments[(i + task) % payments.len()];
                // Every payment gets every status, in a different order from each task.
                let status = chain[(i / payments.len() + task) % chain.len()];
                let response = client
                    .post(format!("{base}/v1/payments/{payment}/status"))
                    .bearer_auth(&key)
                    .json(&json!({"status": status}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200, "{status} on {payment}");
            }
            // Refunds race across instances too and never overdraw.
            let refund = client
                .post(format!("{base}/v1/payments/{}/refunds", payments[task % payments.len()]))
                .bearer_auth(&key)
                .json(&json!({"amount": 30}))
                .send()
                .await
                .unwrap();
            assert!([200, 409, 422].contains(&refund.status().as_u16()), "{}", refund.status());
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    for payment in &payments {
        let state: Value =
            call(&client, &key, reqwest::Method::GET, format!("{}/v1/payments/{payment}", a.base), None).await;
        assert_eq!(state["status"], "reversed", "{state}");
        assert!(state["amount_refunded"].as_i64().unwrap() <= 100);
    }
    let events: Value =
        call(&client, &key, reqwest::Method::GET, format!("{}/v1/events?limit=1000", b.base), None).await;
    let seqs: Vec<i64> = events["data"].as_array().unwrap().iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>(), "gap-free and ordered");
    for payment in &payments {
        let statuses: Vec<&str> = events["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["payment_id"] == payment.as_str() && e["type"] == "payment.status_changed")
            .map(|e| e["data"]["status"].as_str().unwrap())
            .collect();
        let positions: Vec<usize> = statuses.iter().map(|s| chain.iter().position(|c| c == s).unwrap()).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "never backwards: {statuses:?}");
    }
}

/// `paystate worker` sends webhooks without the API, and can serve its own metrics.
#[tokio::test]
async fn a_worker_serves_its_metrics() {
    paystate_webhooks::install_default_crypto_provider();
    let (dir, url) = temp_sqlite();
    assert!(paystate(&["migrate"], &url).status.success());
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(env!("CARGO_BIN_EXE_paystate"))
        // Outside the checkout: a PostgreSQL run keeps its sealing key file in the working directory.
        .current_dir(std::env::temp_dir())
        .args(["worker", "--metrics-listen", &format!("127.0.0.1:{port}")])
        .env("PAYSTATE_DATABASE_URL", &url)
        .env("PAYSTATE_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let worker = Served { child, base: format!("http://127.0.0.1:{port}") };
    let mut metrics = String::new();
    for _ in 0..200 {
        if let Ok(response) = reqwest::get(format!("{}/metrics", worker.base)).await {
            metrics = response.text().await.unwrap();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(metrics.contains("paystate_webhook_outbox_pending"), "{metrics}");
    assert!(metrics.contains("paystate_webhook_attempt_duration_seconds"), "{metrics}");
    drop(worker);
    let _ = std::fs::remove_dir_all(dir);
}
