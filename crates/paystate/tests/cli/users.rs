//! `paystate user …` as scripts run it, and signing in to the console with what it printed.

use super::{json_of, paystate, serve, temp_sqlite};
use std::io::Write;
use std::process::{Command, Stdio};

fn with_stdin(args: &[&str], url: &str, input: &str) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_paystate"))
        // Outside the checkout: a PostgreSQL run keeps its sealing key file in the working directory.
        .current_dir(std::env::temp_dir())
        .args(args)
        .env("PAYSTATE_DATABASE_URL", url)
        .env("PAYSTATE_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

async fn sign_in(base: &str, email: &str, password: &str) -> u16 {
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let body = format!("email={}&password={}", email.replace('@', "%40"), password.replace(' ', "+"));
    let response = client
        .post(format!("{base}/dashboard/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    response.status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_commands_print_json_and_the_password_signs_in() {
    let (dir, url) = temp_sqlite();
    let tenant = json_of(&paystate(&["tenant", "create", "Acme", "--json"], &url));
    let tenant_id = tenant["tenant_id"].as_str().unwrap();
    let create = ["user", "create", "--tenant", tenant_id, "--email", "Ana@Acme.example", "--role", "admin", "--json"];
    let ana = json_of(&paystate(&create, &url));
    assert!(ana["user_id"].as_str().unwrap().starts_with("usr_"));
    assert_eq!(ana["email"], "ana@acme.example", "addresses are lowercased");
    assert_eq!(ana["role"], "admin");
    let generated = ana["password"].as_str().unwrap().to_owned();
    assert!(generated.len() >= 20, "a generated password, shown once");

    let chosen = ["user", "create", "--tenant", tenant_id, "--email", "bo@acme.example", "--role", "viewer"];
    let bo = with_stdin(&[&chosen[..], &["--password-stdin", "--json"]].concat(), &url, "a chosen passphrase\n");
    let bo = json_of(&bo);
    assert_eq!(bo["password"], serde_json::Value::Null, "a password from stdin is not printed");

    let duplicate = paystate(&create, &url);
    assert_eq!(duplicate.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&duplicate.stderr).contains("already has a user"));
    let bad_role =
        paystate(&["user", "create", "--tenant", tenant_id, "--email", "x@acme.example", "--role", "root"], &url);
    assert_eq!(bad_role.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad_role.stderr).contains("viewer, operator or admin"));
    let short = with_stdin(
        &[&chosen[..2], &["--tenant", tenant_id, "--email", "cy@acme.example", "--role", "viewer", "--password-stdin"]]
            .concat(),
        &url,
        "short\n",
    );
    assert_eq!(short.status.code(), Some(1));

    let listed = json_of(&paystate(&["user", "list", "--tenant", tenant_id, "--json"], &url));
    assert_eq!(listed["data"].as_array().unwrap().len(), 2);
    let text = listed.to_string();
    assert!(!text.contains(&generated) && !text.contains("argon2"), "listings never show passwords or hashes");

    let promoted = json_of(&paystate(
        &["user", "role", "--tenant", tenant_id, "--email", "bo@acme.example", "--role", "admin", "--json"],
        &url,
    ));
    assert_eq!(promoted["role"], "admin");
    let listed = json_of(&paystate(&["user", "list", "--tenant", tenant_id, "--json"], &url));
    assert!(listed["data"].as_array().unwrap().iter().any(|u| u["email"] == "bo@acme.example" && u["role"] == "admin"));
    let wrong =
        paystate(&["user", "role", "--tenant", tenant_id, "--email", "bo@acme.example", "--role", "owner"], &url);
    assert_eq!(wrong.status.code(), Some(1));

    let served = serve(&url).await;
    assert_eq!(sign_in(&served.base, "ana@acme.example", &generated).await, 303);
    assert_eq!(sign_in(&served.base, "bo@acme.example", "a chosen passphrase").await, 303);
    let disabled =
        json_of(&paystate(&["user", "disable", "--tenant", tenant_id, "--email", "bo@acme.example", "--json"], &url));
    assert_eq!(disabled["disabled"], true);
    assert_eq!(sign_in(&served.base, "bo@acme.example", "a chosen passphrase").await, 401);
    let unknown =
        paystate(&["user", "disable", "--tenant", tenant_id, "--user", "usr_0192f3c4000000000000000000000000"], &url);
    assert_eq!(unknown.status.code(), Some(1));
    drop(served);
    let _ = std::fs::remove_dir_all(dir);
}
