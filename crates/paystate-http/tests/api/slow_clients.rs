//! Slow and greedy clients: partial headers, stalled bodies and too many connections from one
//! address cannot tie the server up.

use crate::helpers::TestApp;
use paystate_http::server::ConnectionLimits;
use paystate_testkit::Harness;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn limits() -> ConnectionLimits {
    ConnectionLimits {
        header_timeout: Duration::from_secs(1),
        body_timeout: Duration::from_secs(1),
        per_address: 4,
        ..crate::helpers::test_limits()
    }
}

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.address.trim_start_matches("http://")).await.unwrap()
}

/// Everything the server sends until it closes the connection, or `None` if it keeps it open
/// for `wait`.
async fn until_closed(stream: &mut TcpStream, wait: Duration) -> Option<String> {
    let mut answer = Vec::new();
    match tokio::time::timeout(wait, stream.read_to_end(&mut answer)).await {
        Ok(_) => Some(String::from_utf8_lossy(&answer).into_owned()),
        Err(_) => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_headers_are_cut_off_and_stalled_bodies_answered_408() {
    TestApp::sqlite_with(limits())
        .await
        .run(|app| async move {
            let mut partial = connect(&app).await;
            partial.write_all(b"GET /v1/orders HTTP/1.1\r\nHost: x\r\n").await.unwrap();
            let started = Instant::now();
            let answer = until_closed(&mut partial, Duration::from_secs(10)).await;
            assert!(answer.is_some(), "a client that never finishes its headers is disconnected");
            assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());

            let mut stalled = connect(&app).await;
            let head = format!(
                "POST /v1/orders HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
                 Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"reference\":",
                app.admin_key
            );
            stalled.write_all(head.as_bytes()).await.unwrap();
            let answer = until_closed(&mut stalled, Duration::from_secs(10)).await.expect("answered and closed");
            assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
            assert!(answer.contains("request-timeout"), "{answer}");
            let orders: serde_json::Value = app.get("/v1/orders").await.json().await.unwrap();
            assert_eq!(orders["data"].as_array().unwrap().len(), 0, "nothing half written");
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_holds_a_bounded_number_of_connections() {
    TestApp::sqlite_with(ConnectionLimits { header_timeout: Duration::from_secs(30), ..limits() })
        .await
        .run(|app| async move {
            // Four idle connections are the limit from 127.0.0.1; a fifth is closed at once.
            let mut held = Vec::new();
            for _ in 0..4 {
                let mut stream = connect(&app).await;
                stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
                let mut buffer = [0u8; 12];
                stream.read_exact(&mut buffer).await.unwrap();
                assert_eq!(&buffer, b"HTTP/1.1 200");
                held.push(stream);
            }
            let mut refused = connect(&app).await;
            let _ = refused.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
            let answer = until_closed(&mut refused, Duration::from_secs(5)).await;
            assert_eq!(answer.as_deref(), Some(""), "closed without an answer");
            // Once one closes, a new connection is served again.
            drop(held.pop());
            tokio::time::sleep(Duration::from_millis(200)).await;
            let mut again = connect(&app).await;
            again.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
            let answer = until_closed(&mut again, Duration::from_secs(5)).await.unwrap();
            assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        })
        .await;
}
