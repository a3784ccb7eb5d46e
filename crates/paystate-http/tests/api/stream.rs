//! `GET /v1/events/stream`: every event, in order, live; resuming; filters; slow consumers.

use crate::api_test;
use crate::helpers::{TestApp, assert_problem};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// One Server-Sent Event as received.
#[derive(Debug, Clone)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: String,
}

/// Reads Server-Sent Events off a streaming response.
pub struct SseReader {
    response: reqwest::Response,
    buffer: String,
}

impl SseReader {
    pub async fn open(app: &TestApp, base: &str, path: &str, key: &str, last_event_id: Option<i64>) -> SseReader {
        let mut request = app.client.get(format!("{base}{path}")).bearer_auth(key);
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id.to_string());
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        SseReader { response, buffer: String::new() }
    }

    /// The next event (keep-alive comments skipped); `None` when the stream ends.
    pub async fn next(&mut self, patience: Duration) -> Option<SseEvent> {
        let deadline = Instant::now() + patience;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                if let Some(event) = parse_block(&block) {
                    return Some(event);
                }
                continue;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let chunk = tokio::time::timeout(left, self.response.chunk()).await.expect("an event within the patience");
            match chunk.unwrap() {
                Some(bytes) => self.buffer.push_str(std::str::from_utf8(&bytes).unwrap()),
                None => return None,
            }
        }
    }

    /// Events until one with `id` = `last` arrives.
    pub async fn until(&mut self, last: i64) -> Vec<SseEvent> {
        let mut events = Vec::new();
        loop {
            let event = self.next(Duration::from_secs(20)).await.expect("the stream goes on");
            let done = event.id.as_deref() == Some(&last.to_string());
            events.push(event);
            if done {
                return events;
            }
        }
    }
}

/// Parses one block of lines; `None` for a comment-only block (a keep-alive).
fn parse_block(block: &str) -> Option<SseEvent> {
    let (mut id, mut event, mut data, mut any) = (None, None, Vec::new(), false);
    for line in block.lines() {
        if line.starts_with(':') || line.is_empty() {
            continue;
        }
        any = true;
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value).to_owned();
        match field {
            "id" => id = Some(value),
            "event" => event = Some(value),
            "data" => data.push(value),
            _ => {}
        }
    }
    any.then(|| SseEvent { id, event, data: data.join("\n") })
}

/// Every event of the tenant, as `GET /v1/events` lists them, page by page.
async fn listed(app: &TestApp) -> Vec<Value> {
    let (mut all, mut after) = (Vec::new(), 0);
    loop {
        let page = app.events(after).await;
        let Some(last) = page.last() else { return all };
        after = last["seq"].as_i64().unwrap();
        all.extend(page);
    }
}

async fn a_consumer_sees_every_event_in_order_while_writers_write(app: TestApp) {
    // On PostgreSQL half the writers go through a second instance: its commits reach the stream
    // of the first by polling, within the poll interval.
    let second = app.second_instance().await;
    let bases: Vec<String> = [Some(app.address.clone()), second].into_iter().flatten().collect();
    let mut consumer = SseReader::open(&app, &app.address, "/v1/events/stream", &app.admin_key, None).await;
    let mut writers = Vec::new();
    for writer in 0..32 {
        let (client, key, base) = (app.client.clone(), app.admin_key.clone(), bases[writer % bases.len()].clone());
        writers.push(tokio::spawn(async move {
            let post = |path: String, body: Value| client.post(format!("{base}{path}")).bearer_auth(&key).json(&body);
            let reference = format!("W-{writer}");
            let order =
                post("/v1/orders".into(), json!({"reference": reference, "currency": "EUR", "total_amount": 100}));
            assert_eq!(order.send().await.unwrap().status(), 201);
            let payment = post("/v1/payments".into(), json!({"order_id": reference, "amount": 100}));
            let payment: Value = payment.send().await.unwrap().json().await.unwrap();
            let id = payment["id"].as_str().unwrap().to_owned();
            for status in ["pending", "authorized", "paid"] {
                let report = post(format!("/v1/payments/{id}/status"), json!({"status": status}));
                assert_eq!(report.send().await.unwrap().status(), 200);
            }
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    let expected = listed(&app).await;
    assert_eq!(expected.len(), 32 * 5);
    let last = expected.last().unwrap()["seq"].as_i64().unwrap();
    let received = consumer.until(last).await;
    assert_eq!(received.len(), expected.len(), "no event missing, none twice");
    for (got, want) in received.iter().zip(&expected) {
        assert_eq!(got.id.as_deref(), Some(want["seq"].to_string().as_str()));
        assert_eq!(got.event.as_deref(), want["type"].as_str());
        let data: Value = serde_json::from_str(&got.data).unwrap();
        assert_eq!(&data, want, "the event exactly as the list shows it");
    }
}
api_test!(a_consumer_sees_every_event_in_order_while_writers_write);

async fn a_consumer_resumes_after_its_last_id_and_filters(app: TestApp) {
    let paid = app.paid_payment("R-1", 500).await;
    app.paid_payment("R-2", 700).await;
    let events = listed(&app).await;
    assert_eq!(events.len(), 6);
    let read_key = app.key(paystate_store::Scope::Read, None).await;

    // Last-Event-ID wins over `after`: a reconnecting EventSource repeats the URL it started with.
    let mut resumed = SseReader::open(&app, &app.address, "/v1/events/stream?after=1", &read_key, Some(3)).await;
    let seqs: Vec<String> = resumed.until(6).await.into_iter().filter_map(|e| e.id).collect();
    assert_eq!(seqs, ["4", "5", "6"]);

    // The read key made above is in the log as well (event 7), streamed like any other.
    let key_event = resumed.next(Duration::from_secs(10)).await.unwrap();
    assert_eq!((key_event.id.as_deref(), key_event.event.as_deref()), (Some("7"), Some("api_key.created")));

    // Live: an event committed after the consumer caught up arrives at once, woken by the
    // commit (the tests' poll interval is 10 s).
    for (seq, reference) in [(8, "R-3"), (9, "R-4"), (10, "R-5")] {
        let started = Instant::now();
        app.order(reference, 100).await;
        let live = resumed.next(Duration::from_secs(10)).await.unwrap();
        assert_eq!((live.id, live.event.as_deref()), (Some(seq.to_string()), Some("order.created")));
        assert!(started.elapsed() < Duration::from_secs(2), "woken by the commit: {:?}", started.elapsed());
    }

    let payment_id = paid["id"].as_str().unwrap();
    let path = format!("/v1/events/stream?after=0&type=payment.status_changed,payment.created&payment_id={payment_id}");
    let mut filtered = SseReader::open(&app, &app.address, &path, &read_key, None).await;
    let first = filtered.next(Duration::from_secs(5)).await.unwrap();
    let second = filtered.next(Duration::from_secs(5)).await.unwrap();
    assert_eq!(first.event.as_deref(), Some("payment.created"));
    assert_eq!(second.event.as_deref(), Some("payment.status_changed"));
    for event in [&first, &second] {
        let data: Value = serde_json::from_str(&event.data).unwrap();
        assert_eq!(data["payment_id"], payment_id);
    }
    let by_external = "/v1/events/stream?type=order.created";
    let mut orders = SseReader::open(&app, &app.address, by_external, &read_key, None).await;
    let ids: Vec<String> = orders.until(10).await.into_iter().filter_map(|e| e.id).collect();
    assert_eq!(ids, ["1", "4", "8", "9", "10"]);
}
api_test!(a_consumer_resumes_after_its_last_id_and_filters);

async fn bad_stream_requests_are_refused_with_problems(app: TestApp) {
    for query in ["after=-1", "after=abc", "type=payment.nope", "type=payment.created%00", "limit=5", "after=1%00"] {
        let response = app.get(&format!("/v1/events/stream?{query}")).await;
        assert_problem(response, 400, "invalid-request").await;
    }
    let response = app.get("/v1/events/stream?payment_id=pay_missing").await;
    assert_problem(response, 404, "not-found").await;
    let response = app.get("/v1/events/stream?payment_id=pay%00x").await;
    assert!(response.status().is_client_error(), "{}", response.status());
    for bad_id in ["x", "-4", "1.5"] {
        let response = app
            .request(reqwest::Method::GET, "/v1/events/stream", &app.admin_key)
            .header("last-event-id", bad_id)
            .send()
            .await
            .unwrap();
        assert_problem(response, 400, "invalid-request").await;
    }
    let anonymous = app.client.get(app.url("/v1/events/stream")).send().await.unwrap();
    assert_problem(anonymous, 401, "unauthorized").await;
}
api_test!(bad_stream_requests_are_refused_with_problems);

/// Opens a stream on a raw connection with a small receive buffer and reads only its headers.
async fn stalled_consumer(app: &TestApp) -> tokio::net::TcpStream {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = app.address.trim_start_matches("http://");
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(address.parse().unwrap()).await.unwrap();
    let request = format!(
        "GET /v1/events/stream HTTP/1.1\r\nhost: {address}\r\nauthorization: Bearer {}\r\nconnection: close\r\n\r\n",
        app.admin_key
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut head = [0u8; 256];
    let read = stream.read(&mut head).await.unwrap();
    assert!(std::str::from_utf8(&head[..read]).unwrap().starts_with("HTTP/1.1 200"));
    stream
}

async fn a_stalled_consumer_is_dropped_without_blocking_writers(app: TestApp) {
    use tokio::io::AsyncReadExt;
    let mut stalled_while_writing = stalled_consumer(&app).await;
    // Large events (the attributes and the request body each carry 150 KB) fill the socket's
    // buffers and the read-ahead while the consumer reads nothing: 150 of them, well beyond what
    // the kernel's buffers, hyper's and the read-ahead hold together (60 were not, on SQLite).
    let blob = "x".repeat(150_000);
    for i in 0..150 {
        let body =
            json!({"reference": format!("S-{i}"), "currency": "EUR", "total_amount": 1, "attributes": {"blob": blob}});
        // A writer held up by the stalled stream would wait for as long as the consumer sleeps:
        // each write must finish on its own time (generous for a loaded machine).
        let response = tokio::time::timeout(Duration::from_secs(30), app.post("/v1/orders", body))
            .await
            .expect("the writer never waits for the consumer");
        assert_eq!(response.status(), 201);
    }
    // Whether it was told or cut off by now, its connection ends.
    let mut ignored = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(30), stalled_while_writing.read_to_end(&mut ignored)).await;
    assert!(ended.is_ok(), "the stalled consumer's stream ended");

    // A consumer that stalls on the backlog: beyond the stall timeout (2 s in the tests) it is
    // told so when it reads again, and the stream ends.
    let mut stalled = stalled_consumer(&app).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let mut received = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stalled.read_to_end(&mut received))
        .await
        .expect("the server closes the stalled stream")
        .unwrap();
    let text = String::from_utf8_lossy(&received);
    assert!(text.contains("event: too_slow"), "told it fell behind");
    let ids: Vec<i64> = text.lines().filter_map(|line| line.strip_prefix("id: ")?.trim().parse().ok()).collect();
    let last = *ids.last().expect("some events arrived before it fell behind");
    assert!(last < 60, "it did not get everything: {last}");
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "in order, without gaps, up to where it fell behind");

    // It resumes from its last id.
    let mut resumed = SseReader::open(&app, &app.address, "/v1/events/stream", &app.admin_key, Some(last)).await;
    let next = resumed.next(Duration::from_secs(10)).await.unwrap();
    assert_eq!(next.id, Some((last + 1).to_string()));
}
api_test!(a_stalled_consumer_is_dropped_without_blocking_writers);

async fn a_frozen_consumer_is_disconnected(app: TestApp) {
    use tokio::io::AsyncReadExt;
    let mut frozen = stalled_consumer(&app).await;
    let blob = "x".repeat(150_000);
    for i in 0..60 {
        let body =
            json!({"reference": format!("F-{i}"), "currency": "EUR", "total_amount": 1, "attributes": {"blob": blob}});
        assert_eq!(app.post("/v1/orders", body).await.status(), 201);
    }
    // It reads nothing for longer than the stall timeout (2 s) plus the write stall limit (8 s in
    // the tests): the server gives up on the connection instead of holding it forever.
    tokio::time::sleep(Duration::from_secs(14)).await;
    let mut received = Vec::new();
    let drained = tokio::time::timeout(Duration::from_secs(10), frozen.read_to_end(&mut received)).await;
    match drained.expect("the server closed the connection") {
        Ok(_) => {}
        Err(error) => assert_eq!(error.kind(), std::io::ErrorKind::ConnectionReset, "{error}"),
    }
    // The server still serves everyone else.
    assert_eq!(app.events(59).await.len(), 1);
}
api_test!(a_frozen_consumer_is_disconnected);
