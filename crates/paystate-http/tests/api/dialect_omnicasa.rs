//! The Omnicasa dialect: `POST /payment/update-order/{secretKey}` in JSON and XML, the
//! `ReturnResult` envelope byte for byte, the status mapping, dates, languages, refusals and
//! the secret's absence from every log line.

use crate::api_test;
use crate::helpers::TestApp;
use paystate_domain::Source;
use paystate_store::Scope;
use paystate_testkit::Harness;
use reqwest::Method;
use serde_json::{Value, json};

const ROUTE: &str = "/payment/update-order";

/// The document's JSON sample, `OrderId` replaced by a real order's reference.
fn json_sample(order: &str) -> String {
    format!(
        "{{\n\"StatusId\": 1,\n\"PaidAt\": \"2025-12-11T02:03:02.5364112+01:00\",\n\"OrderId\": \"{order}\",\n\"LanguageId\": 4,\n\"IsWriteLogSQL\": true\n}}"
    )
}

/// The document's XML sample, verbatim but for `OrderId` (and, when asked, `StatusId`).
fn xml_sample(order: &str, status: u8) -> String {
    format!(
        r#"<UpdatePaymentOrderParameter xmlns:i="http://www.w3.org/2001/XMLSchema-instance" xmlns="http://schemas.datacontract.org/2004/07/OmnicasaApiv3.Parameters"> <IsWriteLogSQL>true</IsWriteLogSQL> <LanguageId>4</LanguageId> <OrderId>{order}</OrderId> <PaidAt>2025-12-11T02:03:02.5364112+01:00</PaidAt> <StatusId>{status}</StatusId> </UpdatePaymentOrderParameter>"#
    )
}

/// The document's XML answer sample with its values replaced, as DataContractSerializer writes
/// it on the wire (the help page indents it; the wire has no whitespace between elements).
fn xml_answer(success: bool, code: i32, message: &str, value: i32) -> String {
    let sample = r#"<ReturnResultOfint xmlns:i="http://www.w3.org/2001/XMLSchema-instance" xmlns="http://schemas.datacontract.org/2004/07/OmnicasaApiv3.Models"> <Code>2</Code> <Message>sample string 3</Message> <Success>true</Success> <Value>4</Value> </ReturnResultOfint>"#;
    sample
        .replace("> <", "><")
        .replace("<Code>2</Code>", &format!("<Code>{code}</Code>"))
        .replace("<Message>sample string 3</Message>", &format!("<Message>{message}</Message>"))
        .replace("<Success>true</Success>", &format!("<Success>{success}</Success>"))
        .replace("<Value>4</Value>", &format!("<Value>{value}</Value>"))
}

/// The document's JSON answer sample with its values replaced, as Json.NET writes it on the wire
/// (members in declaration order, no whitespace).
fn json_answer(success: bool, code: i32, message: &str, value: i32) -> String {
    let sample = "{\n\"Success\": true,\n\"Code\": 2,\n\"Message\": \"sample string 3\",\n\"Value\": 4\n}";
    sample
        .replace(['\n', ' '], "")
        .replace("\"Success\":true", &format!("\"Success\":{success}"))
        .replace("\"Code\":2", &format!("\"Code\":{code}"))
        .replace("\"Message\":\"samplestring3\"", &format!("\"Message\":{}", Value::from(message)))
        .replace("\"Value\":4", &format!("\"Value\":{value}"))
}

#[derive(Debug)]
struct Answer {
    status: u16,
    content_type: String,
    body: String,
}

impl Answer {
    /// Sends the request; answers what came back.
    async fn of(request: reqwest::RequestBuilder) -> Answer {
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let content_type =
            response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
        Answer { status, content_type, body: response.text().await.unwrap() }
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// A JSON success with this `Value`, byte for byte.
    fn assert_ok(&self, value: i32) {
        assert_eq!((self.status, self.body.as_str()), (200, json_answer(true, 0, "", value).as_str()));
        assert_eq!(self.content_type, "application/json; charset=utf-8");
    }

    /// A JSON failure with this status and code, in the envelope byte for byte; answers its message.
    fn assert_failed(&self, status: u16, code: i32) -> String {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(self.content_type, "application/json; charset=utf-8");
        let message = self.json()["Message"].as_str().unwrap_or_default().to_owned();
        assert!(!message.is_empty(), "{}", self.body);
        assert_eq!(self.body, json_answer(false, code, &message, 0));
        message
    }
}

struct Post<'a> {
    app: &'a TestApp,
    path: String,
    content_type: Option<&'a str>,
    accept: Option<&'a str>,
    body: Vec<u8>,
}

impl<'a> Post<'a> {
    fn new(app: &'a TestApp, secret: &str, body: impl Into<Vec<u8>>) -> Self {
        Post {
            app,
            path: format!("{ROUTE}/{secret}"),
            content_type: Some("application/json"),
            accept: None,
            body: body.into(),
        }
    }

    fn xml(mut self) -> Self {
        self.content_type = Some("application/xml");
        self
    }

    fn content_type(mut self, content_type: Option<&'a str>) -> Self {
        self.content_type = content_type;
        self
    }

    fn accept(mut self, accept: &'a str) -> Self {
        self.accept = Some(accept);
        self
    }

    fn prefixed(mut self) -> Self {
        self.path = format!("/api/v3{}", self.path);
        self
    }

    async fn go(self) -> Answer {
        let mut request = self.app.client.request(Method::POST, self.app.url(&self.path)).body(self.body);
        if let Some(content_type) = self.content_type {
            request = request.header("content-type", content_type);
        }
        if let Some(accept) = self.accept {
            request = request.header("accept", accept);
        }
        Answer::of(request).await
    }
}

/// A JSON report of `status` for the order `reference`, with extra members.
async fn report(app: &TestApp, key: &str, reference: &str, status: i64, extra: Value) -> Answer {
    let mut body = json!({"OrderId": reference, "StatusId": status});
    body.as_object_mut().unwrap().extend(extra.as_object().cloned().unwrap_or_default());
    Post::new(app, key, body.to_string()).go().await
}

async fn omnicasa_key(app: &TestApp) -> String {
    app.key(Scope::Write, Some(Source::Omnicasa)).await
}

/// An order with one open payment; answers the payment's id.
async fn open_payment(app: &TestApp, reference: &str) -> String {
    let order = app.order(reference, 2500).await;
    let payment = app.payment(order["id"].as_str().unwrap(), 2500, None).await;
    payment["id"].as_str().unwrap().to_owned()
}

async fn payment(app: &TestApp, id: &str) -> Value {
    let response = app.get(&format!("/v1/payments/{id}")).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn set_settings(app: &TestApp, omnicasa: Value) {
    let response = app.patch("/v1/tenant", json!({"settings": {"omnicasa": omnicasa}})).await;
    assert_eq!(response.status(), 200);
}

/// Writes settings the API refuses (400), as a database holding them from elsewhere would have
/// them, to check the dialect's defence against them.
async fn force_bad_settings(app: &TestApp, omnicasa: Value) {
    let patch = json!({"settings": {"omnicasa": omnicasa}});
    assert_eq!(app.patch("/v1/tenant", patch.clone()).await.status(), 400, "the API refuses {patch}");
    app.ledger
        .patch_tenant(&paystate_domain::Actor::cli(app.tenant_id.clone(), "test"), patch, |_| Ok(()), None)
        .await
        .unwrap();
}

fn kinds(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

async fn the_json_sample_is_served_at_both_paths(app: TestApp) {
    let key = omnicasa_key(&app).await;
    let id = open_payment(&app, "OMNI-1").await;

    // The sample itself: StatusId 1 on an open payment is an idempotent repeat.
    let answer = Post::new(&app, &key, json_sample("OMNI-1")).go().await;
    answer.assert_ok(0);
    assert!(!answer.body.contains("SELECT"), "IsWriteLogSQL never reaches the answer");

    // Paid with the sample's PaidAt (7 fractional digits, +01:00), through the prefix.
    let paid = json_sample("OMNI-1").replace("\"StatusId\": 1", "\"StatusId\": 2");
    Post::new(&app, &key, paid.clone()).prefixed().go().await.assert_ok(1);
    let after = payment(&app, &id).await;
    assert_eq!(after["status"], "paid");
    assert_eq!(after["paid_at"], "2025-12-11T01:03:02.536411Z");
    Post::new(&app, &key, paid).go().await.assert_ok(0);

    let events = app.trail(0).await;
    assert_eq!(kinds(&events), ["order.created", "payment.created", "payment.status_changed"]);
    let changed = &events[2];
    assert_eq!(changed["source"], "omnicasa");
    assert_eq!(changed["payment_id"], id.as_str());
    assert!(changed["request_body"].as_str().unwrap().contains("\"OrderId\": \"OMNI-1\""));

    // text/json is answered as text/json; names bind whatever their case.
    let id2 = open_payment(&app, "OMNI-2").await;
    let answer = Post::new(&app, &key, r#"{"orderid": "OMNI-2", "STATUSID": 3, "languageId": 3}"#)
        .content_type(Some("text/json; charset=utf-8"))
        .go()
        .await;
    assert_eq!((answer.status, answer.content_type.as_str()), (200, "text/json; charset=utf-8"));
    assert_eq!(answer.body, json_answer(true, 0, "", 1));
    assert_eq!(payment(&app, &id2).await["status"], "pending");
}
api_test!(the_json_sample_is_served_at_both_paths);

async fn the_xml_sample_is_answered_in_the_documents_xml(app: TestApp) {
    let key = omnicasa_key(&app).await;
    let id = open_payment(&app, "OMNI-X1").await;

    let answer = Post::new(&app, &key, xml_sample("OMNI-X1", 1)).xml().go().await;
    assert_eq!((answer.status, answer.content_type.as_str()), (200, "application/xml; charset=utf-8"));
    assert_eq!(answer.body, xml_answer(true, 0, "", 0));
    assert_eq!(
        answer.body,
        "<ReturnResultOfint xmlns:i=\"http://www.w3.org/2001/XMLSchema-instance\" \
         xmlns=\"http://schemas.datacontract.org/2004/07/OmnicasaApiv3.Models\">\
         <Code>0</Code><Message></Message><Success>true</Success><Value>0</Value></ReturnResultOfint>"
    );

    let answer = Post::new(&app, &key, xml_sample("OMNI-X1", 2)).content_type(Some("text/xml")).prefixed().go().await;
    assert_eq!((answer.status, answer.content_type.as_str()), (200, "text/xml; charset=utf-8"));
    assert_eq!(answer.body, xml_answer(true, 0, "", 1));
    let after = payment(&app, &id).await;
    assert_eq!(
        (after["status"].as_str(), after["paid_at"].as_str()),
        (Some("paid"), Some("2025-12-11T01:03:02.536411Z"))
    );

    // Members in another order, a prefix instead of the default namespace, i:nil read as absent.
    let id = open_payment(&app, "OMNI-X2").await;
    let body = r#"<?xml version="1.0" encoding="utf-8"?>
<o:UpdatePaymentOrderParameter xmlns:o="http://schemas.datacontract.org/2004/07/OmnicasaApiv3.Parameters" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <o:StatusId>4</o:StatusId>
  <o:PaidAt xsi:nil="true"/>
  <o:LanguageId xsi:nil="true"/>
  <o:OrderId>OMNI-X2</o:OrderId>
</o:UpdatePaymentOrderParameter>"#;
    Post::new(&app, &key, body).xml().accept("application/json").go().await.assert_ok(1);
    assert_eq!(payment(&app, &id).await["status"], "failed");

    // The answer follows Accept, else the request: a JSON request may ask for XML.
    let failed = Post::new(&app, &key, r#"{"OrderId": "OMNI-X2", "StatusId": 9}"#).accept("application/xml").go().await;
    assert_eq!((failed.status, failed.content_type.as_str()), (400, "application/xml; charset=utf-8"));
    assert_eq!(
        failed.body,
        xml_answer(false, 8, "StatusId is verplicht en moet een geheel getal van 1 tot en met 8 zijn.", 0)
    );
    // An XML request with Accept */* is answered in XML; with an Accept it cannot serve, too.
    for accept in ["*/*", "text/html"] {
        let answer = Post::new(&app, &key, xml_sample("OMNI-X2", 4)).xml().accept(accept).go().await;
        assert_eq!(answer.body, xml_answer(true, 0, "", 0), "{accept}");
    }
    // Escaping in an XML message: the French apostrophe stays as DataContractSerializer writes it.
    let unknown = Post::new(
        &app,
        &key,
        r#"<UpdatePaymentOrderParameter xmlns="http://schemas.datacontract.org/2004/07/OmnicasaApiv3.Parameters"><LanguageId>2</LanguageId><OrderId>NOPE</OrderId><StatusId>2</StatusId></UpdatePaymentOrderParameter>"#,
    )
    .xml()
    .go()
    .await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.body, xml_answer(false, 11, "Aucune commande n'existe avec cet OrderId.", 0));
}
api_test!(the_xml_sample_is_answered_in_the_documents_xml);

async fn every_status_id_maps_to_the_canonical_machine(app: TestApp) {
    let key = omnicasa_key(&app).await;
    let expected = ["open", "paid", "pending", "failed", "expired", "canceled"];
    for (status_id, status) in (1..=6).zip(expected) {
        let reference = format!("ST-{status_id}");
        let id = open_payment(&app, &reference).await;
        let answer = report(&app, &key, &reference, status_id, json!({})).await;
        answer.assert_ok(if status_id == 1 { 0 } else { 1 });
        let after = payment(&app, &id).await;
        assert_eq!(after["status"], status, "StatusId {status_id}");
        assert_eq!(after["paid_at"].is_string(), status == "paid");
    }

    // 7 and 8 mark refunds and chargebacks on a paid payment; the status stays paid.
    let id = open_payment(&app, "ST-7").await;
    report(&app, &key, "ST-7", 2, json!({})).await.assert_ok(1);
    report(&app, &key, "ST-7", 7, json!({})).await.assert_ok(1);
    report(&app, &key, "ST-7", 7, json!({})).await.assert_ok(0);
    report(&app, &key, "ST-7", 8, json!({})).await.assert_ok(1);
    let after = payment(&app, &id).await;
    assert_eq!(
        (&after["status"], &after["has_refunds"], &after["has_chargebacks"], &after["amount_refunded"]),
        (&json!("paid"), &json!(true), &json!(true), &json!(0))
    );
    let events = app.events(0).await;
    let last: Vec<&str> = kinds(&events).into_iter().rev().take(2).collect();
    assert_eq!(last, ["payment.charged_back", "payment.refunded"]);

    // A refund of a payment that was never paid contradicts what is known: a recorded conflict.
    let id = open_payment(&app, "ST-8").await;
    report(&app, &key, "ST-8", 8, json!({"LanguageId": 3})).await.assert_failed(409, 13);
    let after = payment(&app, &id).await;
    assert_eq!((&after["status"], &after["needs_review"]), (&json!("open"), &json!(true)));

    for bad in [json!(0), json!(9), json!(-1), json!(2.5), json!("paid"), json!(null)] {
        let answer = Post::new(&app, &key, json!({"OrderId": "ST-1", "StatusId": bad}).to_string()).go().await;
        answer.assert_failed(400, 8);
    }
    let missing = Post::new(&app, &key, json!({"OrderId": "ST-1"}).to_string()).go().await;
    missing.assert_failed(400, 8);
}
api_test!(every_status_id_maps_to_the_canonical_machine);

async fn paid_at_in_both_formats_across_daylight_saving(app: TestApp) {
    let key = omnicasa_key(&app).await;
    let cases = [
        // Omnicasa's documented format is Brussels wall-clock time: winter UTC+1, summer UTC+2.
        ("2020-11-25 14:30:00", "2020-11-25T13:30:00Z"),
        ("2021-07-01 14:30:00", "2021-07-01T12:30:00Z"),
        // The night the clocks go back (2025-10-26, 03:00 CEST → 02:00 CET) 02:30 happens twice:
        // the first occurrence (CEST) counts.
        ("2025-10-26 02:30:00", "2025-10-26T00:30:00Z"),
        ("2025-10-26 03:30:00", "2025-10-26T02:30:00Z"),
        // The night the clocks go forward (2025-03-30, 02:00 CET → 03:00 CEST) 02:30 does not
        // exist: it is read with the offset before the gap, i.e. as 03:30 CEST.
        ("2025-03-30 02:30:00", "2025-03-30T01:30:00Z"),
        ("2025-03-30 01:59:59", "2025-03-30T00:59:59Z"),
        // ISO 8601 with an offset is an instant whatever the zone.
        ("2025-03-30T02:30:00.1234567+05:00", "2025-03-29T21:30:00.123456Z"),
        ("2025-03-30T02:30:00Z", "2025-03-30T02:30:00Z"),
        // What real clients send: an offset and no fraction, and Mollie's timestamps forwarded.
        ("2020-11-25T14:30:00+01:00", "2020-11-25T13:30:00Z"),
        ("2018-03-20T13:28:37+00:00", "2018-03-20T13:28:37Z"),
        ("2016-08-18T03:51:53.0Z", "2016-08-18T03:51:53Z"),
    ];
    for (index, (sent, stored)) in cases.iter().enumerate() {
        let reference = format!("PA-{index}");
        let id = open_payment(&app, &reference).await;
        report(&app, &key, &reference, 2, json!({"PaidAt": sent})).await.assert_ok(1);
        assert_eq!(payment(&app, &id).await["paid_at"], *stored, "{sent}");
    }

    // Without PaidAt, the time of the update.
    let id = open_payment(&app, "PA-now").await;
    let before = chrono::Utc::now() - chrono::Duration::seconds(1);
    report(&app, &key, "PA-now", 2, json!({"PaidAt": null})).await.assert_ok(1);
    let paid_at: chrono::DateTime<chrono::Utc> = payment(&app, &id).await["paid_at"].as_str().unwrap().parse().unwrap();
    assert!(paid_at >= before && paid_at <= chrono::Utc::now() + chrono::Duration::seconds(1));

    // The zone is the tenant's setting.
    set_settings(&app, json!({"timezone": "America/New_York"})).await;
    let id = open_payment(&app, "PA-NY").await;
    report(&app, &key, "PA-NY", 2, json!({"PaidAt": "2021-07-01 14:30:00"})).await.assert_ok(1);
    assert_eq!(payment(&app, &id).await["paid_at"], "2021-07-01T18:30:00Z");

    for bad in ["2020-11-25", "25/11/2020 14:30:00", "2020-02-30 10:00:00", "2020-11-25T14:30:00.12345678Z", "soon"] {
        report(&app, &key, "PA-NY", 2, json!({"PaidAt": bad})).await.assert_failed(400, 9);
    }
    report(&app, &key, "PA-NY", 2, json!({"PaidAt": 20201125})).await.assert_failed(400, 9);
    // A multi-byte character where the seconds end is a bad date, not a crash.
    report(&app, &key, "PA-NY", 2, json!({"PaidAt": "2025-01-01 00:00:0é"})).await.assert_failed(400, 9);

    // A zone paystate does not know fails the reports that need it, and says so.
    force_bad_settings(&app, json!({"timezone": "Mars/Olympus"})).await;
    let id = open_payment(&app, "PA-bad-zone").await;
    report(&app, &key, "PA-bad-zone", 2, json!({"PaidAt": "2021-07-01 14:30:00"})).await.assert_failed(500, 16);
    assert_eq!(payment(&app, &id).await["status"], "open");
    report(&app, &key, "PA-bad-zone", 2, json!({"PaidAt": "2021-07-01T14:30:00+02:00"})).await.assert_ok(1);
}
api_test!(paid_at_in_both_formats_across_daylight_saving);

async fn every_message_speaks_the_requested_language(app: TestApp) {
    let key = omnicasa_key(&app).await;
    let status = [
        (json!(1), "StatusId is verplicht en moet een geheel getal van 1 tot en met 8 zijn."),
        (json!(2), "StatusId est obligatoire et doit être un nombre entier de 1 à 8."),
        (json!(3), "StatusId is required and must be a whole number from 1 to 8."),
        (json!(4), "StatusId is verplicht en moet een geheel getal van 1 tot en met 8 zijn."),
        (json!(0), "StatusId is verplicht en moet een geheel getal van 1 tot en met 8 zijn."),
        (json!(null), "StatusId is verplicht en moet een geheel getal van 1 tot en met 8 zijn."),
        (json!("2"), "StatusId est obligatoire et doit être un nombre entier de 1 à 8."),
    ];
    for (language, message) in status {
        let body = json!({"OrderId": "L-1", "StatusId": 12, "LanguageId": language});
        let answer = Post::new(&app, &key, body.to_string()).go().await;
        assert_eq!(answer.assert_failed(400, 8), message, "LanguageId {language}");
    }
    let no_language = Post::new(&app, &key, r#"{"OrderId": "L-1", "StatusId": 12}"#).go().await;
    assert_eq!(
        no_language.assert_failed(400, 8),
        "StatusId is verplicht en moet een geheel getal van 1 tot en met 8 zijn."
    );

    let unknown = [
        (1, "Er bestaat geen order met deze OrderId."),
        (2, "Aucune commande n'existe avec cet OrderId."),
        (3, "No order exists with this OrderId."),
    ];
    for (language, message) in unknown {
        let answer = report(&app, &key, "L-none", 2, json!({"LanguageId": language})).await;
        assert_eq!(answer.assert_failed(404, 11), message);
    }
    // Even a refused secret is answered in the body's language.
    let refused = [
        (1, "De geheime sleutel is ongeldig."),
        (2, "La clé secrète n'est pas valide."),
        (3, "The secret key is not valid."),
    ];
    for (language, message) in refused {
        let answer = report(&app, "nope", "L-1", 2, json!({"LanguageId": language})).await;
        assert_eq!(answer.assert_failed(401, 1), message);
    }
    let bad_language = Post::new(&app, &key, r#"{"OrderId": "L-1", "StatusId": 2, "LanguageId": "fr"}"#).go().await;
    assert_eq!(bad_language.assert_failed(400, 10), "LanguageId moet een geheel getal zijn.");
}
api_test!(every_message_speaks_the_requested_language);

async fn malformed_bodies_are_refused_and_change_nothing(app: TestApp) {
    let key = omnicasa_key(&app).await;
    let id = open_payment(&app, "M-1").await;
    let events_before = app.events(0).await.len();

    let json_cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated", br#"{"OrderId": "M-1", "StatusId": "#.to_vec()),
        ("trailing garbage", br#"{"OrderId": "M-1", "StatusId": 2} x"#.to_vec()),
        ("array", br#"[{"OrderId": "M-1", "StatusId": 2}]"#.to_vec()),
        ("string", br#""M-1""#.to_vec()),
        ("empty", Vec::new()),
        ("NaN", br#"{"OrderId": "M-1", "StatusId": NaN}"#.to_vec()),
        ("not UTF-8", b"{\"OrderId\": \"M-\xff\", \"StatusId\": 2}".to_vec()),
    ];
    for (name, body) in json_cases {
        let answer = Post::new(&app, &key, body).go().await;
        assert_eq!(answer.status, 400, "{name}");
        answer.assert_failed(400, 5);
    }
    for nul in
        [&b"{\"OrderId\": \"M-1\\u0000\", \"StatusId\": 2}"[..], &b"{\"OrderId\": \"M-1\0\", \"StatusId\": 2}"[..]]
    {
        Post::new(&app, &key, nul).go().await.assert_failed(400, 5);
    }
    let ns = "http://schemas.datacontract.org/2004/07/OmnicasaApiv3.Parameters";
    let xml_cases = vec![
        format!(r#"<UpdatePaymentOrderParameter xmlns="{ns}"><OrderId>M-1</OrderId><StatusId>2</StatusId>"#),
        format!(r#"<UpdatePaymentOrderParameter xmlns="{ns}"><OrderId>M-1</StatusId></UpdatePaymentOrderParameter>"#),
        r#"<UpdatePaymentOrderParameter><OrderId>M-1</OrderId><StatusId>2</StatusId></UpdatePaymentOrderParameter>"#
            .to_owned(),
        format!(r#"<Other xmlns="{ns}"><OrderId>M-1</OrderId><StatusId>2</StatusId></Other>"#),
        format!(
            r#"<UpdatePaymentOrderParameter xmlns="{ns}"><OrderId>M-1</OrderId><StatusId>2</StatusId></UpdatePaymentOrderParameter><x/>"#
        ),
        format!(
            r#"<UpdatePaymentOrderParameter xmlns="{ns}">loose<OrderId>M-1</OrderId><StatusId>2</StatusId></UpdatePaymentOrderParameter>"#
        ),
        format!(
            r#"<UpdatePaymentOrderParameter xmlns="{ns}"><OrderId>M-1 & co</OrderId><StatusId>2</StatusId></UpdatePaymentOrderParameter>"#
        ),
        format!(
            r#"<UpdatePaymentOrderParameter xmlns="{ns}"><OrderId><b>M-1</b></OrderId><StatusId>2</StatusId></UpdatePaymentOrderParameter>"#
        ),
        r#"{"OrderId": "M-1", "StatusId": 2}"#.to_owned(),
        String::new(),
    ];
    for body in xml_cases {
        let answer = Post::new(&app, &key, body.clone()).xml().go().await;
        assert_eq!(answer.status, 400, "{body}");
        assert_eq!(
            answer.body,
            xml_answer(false, 5, "De aanvraag is geen geldig UpdatePaymentOrderParameter-XML-document.", 0),
            "{body}"
        );
    }
    // Well-formed but wrong types.
    let wrong_type = format!(
        r#"<UpdatePaymentOrderParameter xmlns="{ns}"><OrderId>M-1</OrderId><StatusId>two</StatusId></UpdatePaymentOrderParameter>"#
    );
    assert_eq!(Post::new(&app, &key, wrong_type).xml().go().await.status, 400);
    let wrong_bool = format!(
        r#"<UpdatePaymentOrderParameter xmlns="{ns}"><IsWriteLogSQL>yes</IsWriteLogSQL><OrderId>M-1</OrderId><StatusId>2</StatusId></UpdatePaymentOrderParameter>"#
    );
    Post::new(&app, &key, wrong_bool).xml().accept("application/json").go().await.assert_failed(400, 10);
    Post::new(&app, &key, r#"{"OrderId": ["M-1"], "StatusId": 2}"#).go().await.assert_failed(400, 7);
    Post::new(&app, &key, r#"{"OrderId": "", "StatusId": 2}"#).go().await.assert_failed(400, 7);
    Post::new(&app, &key, json!({"OrderId": "x".repeat(201), "StatusId": 2}).to_string())
        .go()
        .await
        .assert_failed(400, 7);

    // Media types the endpoint does not read, and bodies over the cap.
    for content_type in
        [Some("text/plain"), Some("application/x-www-form-urlencoded"), Some("application/json; charset=utf-16"), None]
    {
        let answer =
            Post::new(&app, &key, r#"{"OrderId": "M-1", "StatusId": 2}"#).content_type(content_type).go().await;
        answer.assert_failed(415, 3);
    }
    let (status, body) = oversized(&app, &key).await;
    assert_eq!(status, "HTTP/1.1 413 Payload Too Large");
    assert_eq!(body, json_answer(false, 4, "De aanvraag is groter dan 1 MiB.", 0));

    assert_eq!(payment(&app, &id).await["status"], "open");
    assert_eq!(app.events(0).await.len(), events_before, "no refused body wrote anything");
}
api_test!(malformed_bodies_are_refused_and_change_nothing);

async fn doctype_and_entities_are_refused(app: TestApp) {
    let key = omnicasa_key(&app).await;
    let id = open_payment(&app, "E-1").await;
    let ns = "http://schemas.datacontract.org/2004/07/OmnicasaApiv3.Parameters";
    let laughs = format!(
        r#"<?xml version="1.0"?>
<!DOCTYPE UpdatePaymentOrderParameter [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<UpdatePaymentOrderParameter xmlns="{ns}"><OrderId>E-1&lol9;</OrderId><StatusId>2</StatusId></UpdatePaymentOrderParameter>"#
    );
    let external = format!(
        r#"<?xml version="1.0"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><UpdatePaymentOrderParameter xmlns="{ns}"><OrderId>&xxe;</OrderId><StatusId>2</StatusId></UpdatePaymentOrderParameter>"#
    );
    let parameter = format!(
        r#"<!DOCTYPE foo [<!ENTITY % remote SYSTEM "http://127.0.0.1:1/evil.dtd"> %remote;]><UpdatePaymentOrderParameter xmlns="{ns}"><OrderId>E-1</OrderId><StatusId>2</StatusId></UpdatePaymentOrderParameter>"#
    );
    let bare_doctype = format!(
        r#"<!DOCTYPE UpdatePaymentOrderParameter><UpdatePaymentOrderParameter xmlns="{ns}"><OrderId>E-1</OrderId><StatusId>2</StatusId></UpdatePaymentOrderParameter>"#
    );
    let undeclared = format!(
        r#"<UpdatePaymentOrderParameter xmlns="{ns}"><OrderId>&xxe;</OrderId><StatusId>2</StatusId></UpdatePaymentOrderParameter>"#
    );
    let in_attribute = format!(
        r#"<UpdatePaymentOrderParameter xmlns="{ns}"><OrderId note="&xxe;">E-1</OrderId><StatusId>2</StatusId></UpdatePaymentOrderParameter>"#
    );
    for (name, body) in [
        ("billion laughs", laughs),
        ("external entity", external),
        ("parameter entity", parameter),
        ("bare DOCTYPE", bare_doctype),
        ("undeclared entity", undeclared),
        ("entity in an attribute", in_attribute),
    ] {
        let answer = Post::new(&app, &key, body).xml().go().await;
        assert_eq!(answer.status, 400, "{name}");
        assert_eq!(
            answer.body,
            xml_answer(
                false,
                6,
                "XML-documenttypedeclaraties (DOCTYPE) en andere entiteiten dan de vijf voorgedefinieerde worden niet aanvaard.",
                0
            ),
            "{name}"
        );
    }
    assert_eq!(payment(&app, &id).await["status"], "open");

    // The five predefined entities and character references are ordinary XML.
    let order = app.order("R&D <1>", 100).await;
    let payment_id = app.payment(order["id"].as_str().unwrap(), 100, None).await["id"].as_str().unwrap().to_owned();
    let body = format!(
        r#"<UpdatePaymentOrderParameter xmlns="{ns}"><OrderId>R&amp;D &lt;&#x31;&gt;</OrderId><StatusId>&#50;</StatusId></UpdatePaymentOrderParameter>"#
    );
    let answer = Post::new(&app, &key, body).xml().go().await;
    assert_eq!(answer.body, xml_answer(true, 0, "", 1));
    assert_eq!(payment(&app, &payment_id).await["status"], "paid");
}
api_test!(doctype_and_entities_are_refused);

async fn wrong_secrets_get_one_answer(app: TestApp) {
    let key = omnicasa_key(&app).await;
    open_payment(&app, "K-1").await;
    let mut wrong = key.clone();
    let last = wrong.pop().unwrap();
    wrong.push(if last == 'A' { 'B' } else { 'A' });
    let revoked = app.revoked_key(Source::Omnicasa).await;
    let norce_only = app.key(Scope::Write, Some(Source::Norce)).await;
    let unknown = "psk_0192f3c4000000000000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

    let body = r#"{"OrderId": "K-1", "StatusId": 2}"#;
    let reference = Post::new(&app, &wrong, body).go().await;
    assert_eq!(reference.assert_failed(401, 1), "De geheime sleutel is ongeldig.");
    for secret in [unknown, "garbage", revoked.as_str(), norce_only.as_str(), "%FF%FE"] {
        let answer = Post::new(&app, secret, body).go().await;
        assert_eq!((answer.status, &answer.body), (reference.status, &reference.body), "{secret}");
    }
    let xml = Post::new(&app, &wrong, xml_sample("K-1", 2)).xml().go().await;
    assert_eq!((xml.status, xml.body), (401, xml_answer(false, 1, "De geheime sleutel is ongeldig.", 0)));
    assert_eq!(Post::new(&app, "", body).go().await.status, 404, "no secret, no route");

    // A read-only key is known but may not change payments.
    let reader = app.key(Scope::Read, None).await;
    Post::new(&app, &reader, body).go().await.assert_failed(403, 2);
    assert_eq!(app.trail(0).await.len(), 2, "only the order and payment creation");

    // A key limited to Omnicasa and an unlimited write key both work.
    Post::new(&app, &key, body).go().await.assert_ok(1);
    let writer = app.key(Scope::Write, None).await;
    Post::new(&app, &writer, body).go().await.assert_ok(0);
}
api_test!(wrong_secrets_get_one_answer);

async fn another_tenants_order_is_not_found(app: TestApp) {
    let (other_tenant, other_admin) = app.other_tenant().await;
    let other_key = app.key_of(&other_tenant, Scope::Write, Some(Source::Omnicasa)).await;
    // The other tenant's order, created through the native API with its own admin key.
    let response = app
        .request(Method::POST, "/v1/orders", &other_admin)
        .json(&json!({"reference": "THEIRS-1", "currency": "EUR"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let their_order: Value = response.json().await.unwrap();
    let their_payment =
        app.post_json_as("/v1/payments", &other_admin, json!({"order_id": their_order["id"], "amount": 100})).await;

    let key = omnicasa_key(&app).await;
    let answer = report(&app, &key, "THEIRS-1", 2, json!({"LanguageId": 3})).await;
    assert_eq!(answer.assert_failed(404, 11), "No order exists with this OrderId.");
    // Not by its paystate id either.
    report(&app, &key, their_order["id"].as_str().unwrap(), 2, json!({})).await.assert_failed(404, 11);
    let theirs =
        app.get_json_as(&format!("/v1/payments/{}", their_payment["id"].as_str().unwrap()), &other_admin).await;
    assert_eq!(theirs["status"], "open");

    // The same reference in both tenants: each key reaches its own.
    let mine = open_payment(&app, "SHARED-1").await;
    let shared =
        app.post_json_as("/v1/orders", &other_admin, json!({"reference": "SHARED-1", "currency": "EUR"})).await;
    app.request(Method::POST, "/v1/payments", &other_admin)
        .json(&json!({"order_id": shared["id"], "amount": 100}))
        .send()
        .await
        .unwrap();
    report(&app, &other_key, "SHARED-1", 6, json!({})).await.assert_ok(1);
    assert_eq!(payment(&app, &mine).await["status"], "open");
    report(&app, &key, "SHARED-1", 2, json!({})).await.assert_ok(1);
    assert_eq!(payment(&app, &mine).await["status"], "paid");
}
api_test!(another_tenants_order_is_not_found);

async fn conflicts_and_stale_reports(app: TestApp) {
    let key = omnicasa_key(&app).await;
    let id = open_payment(&app, "C-1").await;
    report(&app, &key, "C-1", 6, json!({})).await.assert_ok(1);
    let conflict = report(&app, &key, "C-1", 2, json!({"LanguageId": 3})).await;
    assert_eq!(
        conflict.assert_failed(409, 13),
        "The reported status contradicts the payment's settled status; the report was recorded and the payment flagged for review."
    );
    let after = payment(&app, &id).await;
    assert_eq!((&after["status"], &after["needs_review"]), (&json!("canceled"), &json!(true)));
    let events = app.events(0).await;
    let conflict_event = events.last().unwrap();
    assert_eq!(conflict_event["type"], "payment.conflict");
    assert_eq!(conflict_event["source"], "omnicasa");
    assert_eq!(conflict_event["detail"]["reported_status"], "paid");
    let xml = Post::new(&app, &key, xml_sample("C-1", 2)).xml().go().await;
    assert_eq!(xml.status, 409);
    assert!(xml.body.contains("<Code>13</Code>") && xml.body.contains("<Success>false</Success>"));

    // Paid, then a late "pending" and a late "open": acknowledged, recorded, not applied.
    let id = open_payment(&app, "C-2").await;
    report(&app, &key, "C-2", 2, json!({})).await.assert_ok(1);
    let before = app.events(0).await.len();
    report(&app, &key, "C-2", 3, json!({})).await.assert_ok(0);
    report(&app, &key, "C-2", 1, json!({})).await.assert_ok(0);
    report(&app, &key, "C-2", 2, json!({})).await.assert_ok(0);
    let after = payment(&app, &id).await;
    assert_eq!((&after["status"], &after["needs_review"]), (&json!("paid"), &json!(false)));
    let events = app.events(0).await;
    assert_eq!(kinds(&events[before..]), ["payment.stale_update", "payment.stale_update"], "a repeat records nothing");

    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    for outcome in ["applied", "stale", "unchanged", "conflict"] {
        assert!(
            metrics.lines().any(|l| l.starts_with("paystate_payment_reports_total")
                && l.contains("source=\"omnicasa\"")
                && l.contains(&format!("outcome=\"{outcome}\""))),
            "{outcome} is counted"
        );
    }
}
api_test!(conflicts_and_stale_reports);

/// Announces a 2 MiB body and sends its start on a connection of its own: the answer comes
/// before the body is read.
async fn oversized(app: &TestApp, key: &str) -> (String, String) {
    let path = format!("POST {ROUTE}/{key}");
    let answer =
        crate::helpers::oversized_request(app, &path, &[("content-type", "application/json")], "{\"OrderId\": \"")
            .await;
    (answer.status, answer.body)
}

async fn the_payment_of_an_order_with_several(app: TestApp) {
    let key = omnicasa_key(&app).await;
    let order = app.order("SEV-1", 100).await;
    let order_id = order["id"].as_str().unwrap();
    let first = app.payment(order_id, 100, None).await["id"].as_str().unwrap().to_owned();
    app.post(&format!("/v1/payments/{first}/status"), json!({"status": "failed"})).await;
    let second = app.payment(order_id, 100, None).await["id"].as_str().unwrap().to_owned();
    let third = app.payment(order_id, 100, None).await["id"].as_str().unwrap().to_owned();
    app.post(&format!("/v1/payments/{third}/status"), json!({"status": "expired"})).await;
    // The newest receipt that is not terminal: the second.
    report(&app, &key, "SEV-1", 2, json!({})).await.assert_ok(1);
    assert_eq!(payment(&app, &second).await["status"], "paid");
    assert_eq!(payment(&app, &first).await["status"], "failed");
    assert_eq!(payment(&app, &third).await["status"], "expired");

    // A new attempt after the paid one is the newest non-terminal receipt; a refund still
    // goes to the payment that was paid.
    let fourth = app.payment(order_id, 100, None).await["id"].as_str().unwrap().to_owned();
    report(&app, &key, "SEV-1", 7, json!({})).await.assert_ok(1);
    assert_eq!(payment(&app, &second).await["has_refunds"], true);
    report(&app, &key, "SEV-1", 3, json!({})).await.assert_ok(1);
    assert_eq!(payment(&app, &fourth).await["status"], "pending");

    // All terminal: the newest.
    let order = app.order("SEV-2", 100).await;
    let order_id = order["id"].as_str().unwrap();
    let old = app.payment(order_id, 100, None).await["id"].as_str().unwrap().to_owned();
    app.post(&format!("/v1/payments/{old}/status"), json!({"status": "canceled"})).await;
    let new = app.payment(order_id, 100, None).await["id"].as_str().unwrap().to_owned();
    app.post(&format!("/v1/payments/{new}/status"), json!({"status": "expired"})).await;
    report(&app, &key, "SEV-2", 5, json!({})).await.assert_ok(0);
    report(&app, &key, "SEV-2", 6, json!({})).await.assert_failed(409, 13);
    assert_eq!(payment(&app, &new).await["needs_review"], true);
    assert_eq!(payment(&app, &old).await["needs_review"], false);
}
api_test!(the_payment_of_an_order_with_several);

async fn unknown_orders_are_created_only_when_the_tenant_allows(app: TestApp) {
    let key = omnicasa_key(&app).await;
    report(&app, &key, "NEW-1", 2, json!({})).await.assert_failed(404, 11);
    let listed: Value = app.get("/v1/orders?reference=NEW-1").await.json().await.unwrap();
    assert_eq!(listed["data"], json!([]));
    // An order without payments.
    app.order("BARE-1", 100).await;
    report(&app, &key, "BARE-1", 2, json!({})).await.assert_failed(404, 12);

    set_settings(&app, json!({"create_unknown_orders": true})).await;
    let before = app.events(0).await.len();
    report(&app, &key, "NEW-1", 2, json!({"PaidAt": "2024-02-01 10:00:00"})).await.assert_ok(1);
    let order: Value = app.get("/v1/orders/NEW-1").await.json().await.unwrap();
    assert_eq!((&order["currency"], &order["total_amount"]), (&json!("EUR"), &json!(0)));
    let payments: Value = app.get("/v1/payments?order_id=NEW-1").await.json().await.unwrap();
    let created = &payments["data"][0];
    assert_eq!((&created["status"], &created["amount"]), (&json!("paid"), &json!(0)));
    assert_eq!(created["paid_at"], "2024-02-01T09:00:00Z");
    let events = app.events(0).await;
    assert_eq!(kinds(&events[before..]), ["order.created", "payment.created", "payment.status_changed"]);
    assert!(events[before..].iter().all(|e| e["source"] == "omnicasa"));
    // An open report of a new order creates it too and counts the new payment.
    report(&app, &key, "NEW-2", 1, json!({})).await.assert_ok(1);
    report(&app, &key, "NEW-2", 1, json!({})).await.assert_ok(0);
    // The order without payments gets one.
    report(&app, &key, "BARE-1", 3, json!({})).await.assert_ok(1);

    set_settings(&app, json!({"currency": "USD"})).await;
    report(&app, &key, "NEW-3", 4, json!({})).await.assert_ok(1);
    let order: Value = app.get("/v1/orders/NEW-3").await.json().await.unwrap();
    assert_eq!(order["currency"], "USD");

    force_bad_settings(&app, json!({"currency": "NOPE"})).await;
    report(&app, &key, "NEW-4", 2, json!({})).await.assert_failed(500, 16);
    assert_eq!(app.get("/v1/orders/NEW-4").await.status(), 404, "nothing half-created");
    force_bad_settings(&app, json!({"create_unknown_orders": "yes"})).await;
    report(&app, &key, "NEW-5", 2, json!({})).await.assert_failed(500, 16);
    // Known orders are unaffected by bad creation settings.
    report(&app, &key, "NEW-3", 4, json!({})).await.assert_ok(0);
}
api_test!(unknown_orders_are_created_only_when_the_tenant_allows);

async fn concurrent_reports_of_one_new_order_create_it_once(app: TestApp) {
    let key = omnicasa_key(&app).await;
    set_settings(&app, json!({"create_unknown_orders": true})).await;
    let reports = (0..8).map(|_| report(&app, &key, "RACE-1", 2, json!({})));
    let answers = futures::future::join_all(reports).await;
    let mut changed = 0;
    for answer in &answers {
        assert_eq!(answer.status, 200, "{}", answer.body);
        changed += answer.json()["Value"].as_i64().unwrap();
    }
    assert_eq!(changed, 1, "one request created and paid the payment; the others repeated it");
    let orders: Value = app.get("/v1/orders?reference=RACE-1").await.json().await.unwrap();
    assert_eq!(orders["data"].as_array().unwrap().len(), 1);
    let payments: Value = app.get("/v1/payments?order_id=RACE-1").await.json().await.unwrap();
    assert_eq!(payments["data"].as_array().unwrap().len(), 1);
    assert_eq!(payments["data"][0]["status"], "paid");
}
api_test!(concurrent_reports_of_one_new_order_create_it_once);

async fn other_methods_are_answered_in_the_envelope(app: TestApp) {
    let key = omnicasa_key(&app).await;
    for method in [Method::GET, Method::PUT, Method::DELETE] {
        let response =
            app.client.request(method.clone(), app.url(&format!("/api/v3{ROUTE}/{key}"))).send().await.unwrap();
        assert_eq!(response.status(), 405, "{method}");
        assert_eq!(response.headers()["allow"], "POST");
        let body = response.text().await.unwrap();
        assert_eq!(body, json_answer(false, 18, "Deze bron ondersteunt enkel de HTTP-methode POST.", 0));
    }
    let xml = app.client.get(app.url(&format!("{ROUTE}/{key}"))).header("accept", "text/xml").send().await.unwrap();
    assert_eq!(xml.headers()["content-type"], "text/xml; charset=utf-8");
    assert_eq!(
        xml.text().await.unwrap(),
        xml_answer(false, 18, "Deze bron ondersteunt enkel de HTTP-methode POST.", 0)
    );
}
api_test!(other_methods_are_answered_in_the_envelope);

async fn the_openapi_document_describes_the_endpoint(app: TestApp) {
    let document: Value = app.client.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    let operation = &document["paths"]["/payment/update-order/{secretKey}"]["post"];
    assert_eq!(operation["tags"], json!(["omnicasa"]));
    let content = &operation["requestBody"]["content"];
    for media in ["application/json", "text/json", "application/xml", "text/xml"] {
        assert!(content[media].is_object(), "{media}");
    }
    assert!(document["components"]["schemas"]["ReturnResultOfInt32"].is_object());
    assert!(
        document["components"]["schemas"]["UpdatePaymentOrderParameter"]["properties"]["IsWriteLogSQL"].is_object()
    );
}
api_test!(the_openapi_document_describes_the_endpoint);

/// Log capture: the server runs on a runtime whose every thread logs, at TRACE and for every
/// target, into one buffer; the test's client runs on a runtime of its own so that its logs
/// (which name the URL it calls) are not mistaken for the server's.
mod captured {
    use super::*;
    use std::cell::RefCell;
    use std::io::Write;
    use std::sync::{Arc, Mutex, OnceLock};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    thread_local! {
        static GUARD: RefCell<Option<tracing::dispatcher::DefaultGuard>> = const { RefCell::new(None) };
    }

    /// Runs `scenario` against a server whose logs are captured; answers them.
    fn run<F, Fut>(postgres: bool, scenario: F) -> Option<String>
    where
        F: FnOnce(TestApp) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        if postgres && std::env::var("PAYSTATE_TEST_POSTGRES_URL").is_err() {
            eprintln!("skipped: PostgreSQL tests need PAYSTATE_TEST_POSTGRES_URL");
            return None;
        }
        // tracing caches each callsite's interest. While a process has a single registered
        // dispatcher, that cache is filled from whatever thread first reaches a callsite (a test
        // thread without a subscriber would switch it off for good); a second, permanent one
        // makes every callsite ask the current thread's dispatcher instead.
        static KEEPER: OnceLock<tracing::Dispatch> = OnceLock::new();
        KEEPER.get_or_init(|| tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default()));
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let dispatch = tracing::Dispatch::new(subscriber);
        let on_start = dispatch.clone();
        let server = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .on_thread_start(move || {
                let guard = tracing::dispatcher::set_default(&on_start);
                GUARD.with(|slot| *slot.borrow_mut() = Some(guard));
            })
            .on_thread_stop(|| GUARD.with(|slot| drop(slot.borrow_mut().take())))
            .build()
            .unwrap();
        let app = {
            let _main = tracing::dispatcher::set_default(&dispatch);
            server
                .block_on(async { if postgres { TestApp::postgres().await.unwrap() } else { TestApp::sqlite().await } })
        };
        let client = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        client.block_on(app.run(scenario));
        drop(client);
        server.shutdown_timeout(std::time::Duration::from_secs(5));
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        Some(text)
    }

    /// The secret part of a key, `psk_<key id>_<secret>` (the secret's alphabet includes `_`).
    fn secret_part(key: &str) -> &str {
        let secret = key.strip_prefix("psk_").and_then(|rest| rest.split_once('_')).unwrap().1;
        assert_eq!(secret.len(), 43);
        secret
    }

    /// The secrets the scenario used, handed out of it.
    type Secrets = Arc<Mutex<Vec<String>>>;

    async fn post_logged(
        app: &TestApp,
        route: &str,
        key: &str,
        request_id: &str,
        content_type: &str,
        body: String,
    ) -> Answer {
        let response = app
            .client
            .post(app.url(&format!("{route}/{key}")))
            .header("x-request-id", request_id)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
        Answer { status, content_type, body: response.text().await.unwrap() }
    }

    async fn exercise(app: TestApp, secrets: Secrets, reference: &'static str) {
        let response = app.post("/v1/api-keys", json!({"scope": "write", "dialect": "omnicasa"})).await;
        let key = response.json::<Value>().await.unwrap()["api_key"].as_str().unwrap().to_owned();
        let mut wrong = key.clone();
        let last = wrong.pop().unwrap();
        wrong.push(if last == 'A' { 'B' } else { 'A' });
        secrets.lock().unwrap().extend([key.clone(), wrong.clone()]);
        open_payment(&app, reference).await;

        let answer = post_logged(
            &app,
            ROUTE,
            &key,
            "omni-sql-json",
            "application/json",
            json_sample(reference).replace("\"StatusId\": 1", "\"StatusId\": 2"),
        )
        .await;
        assert_eq!((answer.status, answer.body.as_str()), (200, json_answer(true, 0, "", 1).as_str()));
        let late = json_sample(reference).replace("\"StatusId\": 1", "\"StatusId\": 3");
        let answer =
            post_logged(&app, &format!("/api/v3{ROUTE}"), &key, "omni-sql-prefixed", "application/json", late).await;
        assert_eq!((answer.status, answer.body.as_str()), (200, json_answer(true, 0, "", 0).as_str()), "stale");
        let quiet = xml_sample(reference, 2)
            .replace("<IsWriteLogSQL>true</IsWriteLogSQL>", "<IsWriteLogSQL>false</IsWriteLogSQL>");
        let answer = post_logged(&app, ROUTE, &key, "omni-nosql-xml", "application/xml", quiet).await;
        assert_eq!((answer.status, answer.body), (200, xml_answer(true, 0, "", 0)));

        // Refusals: a wrong secret, a malformed body, an unknown order, a conflict.
        let wrong_answer = app
            .client
            .post(app.url(&format!("{ROUTE}/{wrong}")))
            .header("content-type", "application/json")
            .body(json_sample(reference))
            .send()
            .await
            .unwrap();
        assert_eq!(wrong_answer.status(), 401);
        assert!(!wrong_answer.text().await.unwrap().contains(&wrong));
        for body in ["{", r#"{"OrderId": "NOWHERE", "StatusId": 2, "IsWriteLogSQL": true}"#] {
            let answer = app
                .client
                .post(app.url(&format!("{ROUTE}/{key}")))
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            assert!(answer.status().is_client_error());
        }
        let answer = report(&app, &key, reference, 6, json!({"IsWriteLogSQL": true})).await;
        answer.assert_failed(409, 13);

        // Neither events nor metrics hold the secret.
        let events = app.get("/v1/events?after=0&limit=1000").await.text().await.unwrap();
        let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
        for secret in [&key, &wrong] {
            let hidden = secret_part(secret);
            assert!(!events.contains(hidden), "an event holds the secret");
            assert!(!metrics.contains(hidden), "a metric holds the secret");
        }
        assert!(events.contains("omnicasa"), "the events were read");
    }

    fn check(postgres: bool) {
        let secrets = Secrets::default();
        let handed = secrets.clone();
        let reference = "LOG-R-7731";
        let Some(logs) = run(postgres, move |app| exercise(app, handed, reference)) else { return };
        let secrets = secrets.lock().unwrap().clone();
        assert_eq!(secrets.len(), 2);

        // The capture works: the access log of the dialect's route is there, by template.
        assert!(logs.contains("route=/payment/update-order/{secretKey}"), "the server's access log was captured");
        assert!(logs.contains("route=/api/v3/payment/update-order/{secretKey}"));
        for secret in &secrets {
            assert!(!logs.contains(secret.as_str()), "a log line holds a key");
            assert!(!logs.contains(secret_part(secret)), "a log line holds a key's secret");
        }

        // IsWriteLogSQL: the statements this request ran, at info, with the request id, templates only.
        let sql_lines = |request_id: &str| -> Vec<&str> {
            logs.lines()
                .filter(|l| l.contains("Omnicasa IsWriteLogSQL") && l.contains(&format!("request_id={request_id}")))
                .collect()
        };
        let lines = sql_lines("omni-sql-json");
        assert!(lines.len() > 5, "{logs}");
        assert!(lines.iter().all(|l| l.contains(" INFO ")), "{lines:#?}");
        let statements = lines.join("\n");
        let (order_lookup, update, event) = if postgres {
            (
                "SELECT doc FROM orders WHERE tenant_id = $1 AND reference = $2 FOR NO KEY UPDATE",
                "UPDATE payments SET external_id = $3",
                "WITH next AS (UPDATE tenants SET event_seq = event_seq + 1",
            )
        } else {
            (
                "SELECT doc FROM orders WHERE tenant_id = ?1 AND reference = ?2",
                "UPDATE payments SET external_id = ?3",
                "INSERT INTO events (id, tenant_id, seq",
            )
        };
        for expected in [order_lookup, update, event, "FROM api_keys WHERE id =", "COMMIT", "redacted"] {
            assert!(statements.contains(expected), "{expected} missing from\n{statements}");
        }
        assert!(!statements.contains(reference), "a parameter value reached the SQL log");
        // Each request logs its own statements; one that did not ask logs none.
        assert!(!sql_lines("omni-sql-prefixed").is_empty());
        assert!(
            !sql_lines("omni-sql-prefixed").join("\n").contains("UPDATE payments"),
            "a stale report writes no payment"
        );
        assert!(sql_lines("omni-nosql-xml").is_empty());
    }

    #[test]
    fn sqlite_secret_is_never_logged_and_sql_is_logged_on_request() {
        check(false);
    }

    #[test]
    fn postgres_secret_is_never_logged_and_sql_is_logged_on_request() {
        check(true);
    }
}

// --- the read side: GET /payment/get-order/{secretKey} ---------------------------------------

/// A GET of the read side; answers status, content type and body.
async fn get_order(app: &TestApp, path: &str, accept: Option<&str>) -> Answer {
    let mut request = app.client.get(app.url(path));
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    Answer::of(request).await
}

async fn the_read_side_answers_the_payment_order_in_json_and_xml(app: TestApp) {
    let key = omnicasa_key(&app).await;
    let id = open_payment(&app, "OM-READ").await;
    report(&app, &key, "OM-READ", 2, json!({"PaidAt": "2020-11-25 14:30:00"})).await.assert_ok(1);

    let answer = get_order(&app, &format!("/payment/get-order/{key}?OrderId=OM-READ&LanguageId=3"), None).await;
    assert_eq!((answer.status, answer.content_type.as_str()), (200, "application/json; charset=utf-8"));
    // Json.NET's form: declaration order, the decimal with the currency's two decimals.
    assert!(answer.body.starts_with(&format!(
        "{{\"Success\":true,\"Code\":0,\"Message\":\"\",\"Value\":{{\"Id\":\"{id}\",\"OrderId\":\"OM-READ\",\"StatusId\":2,\"StatusName\":\"Paid\",\"Value\":25.00,\"Description\":null,\"CreateAt\":\""
    )), "{}", answer.body);
    let value = answer.json()["Value"].clone();
    // The wall-clock time the update sent comes back as it was sent (Brussels, the default zone).
    assert_eq!(value["PaidAt"], "2020-11-25 14:30:00");
    assert_eq!(value["ExpiresAt"], Value::Null);
    let created = value["CreateAt"].as_str().unwrap();
    assert!(chrono::NaiveDateTime::parse_from_str(created, "%Y-%m-%d %H:%M:%S").is_ok(), "{created}");
    for member in ["PersonId", "PropertyId", "PersonIdent", "PropertyIdent"] {
        assert_eq!(value[member], Value::Null, "{member}");
    }

    // DataContract XML after Accept, at the prefixed path too, in Dutch by default.
    let xml = get_order(&app, &format!("/api/v3/payment/get-order/{key}?OrderId=OM-READ"), Some("text/xml")).await;
    assert_eq!((xml.status, xml.content_type.as_str()), (200, "text/xml; charset=utf-8"));
    assert!(xml.body.starts_with(r#"<ReturnResultOfPayments xmlns:i="http://www.w3.org/2001/XMLSchema-instance" xmlns="http://schemas.datacontract.org/2004/07/OmnicasaApiv3.Models"><Code>0</Code><Message></Message><Success>true</Success><Value><CreateAt>"#), "{}", xml.body);
    assert!(xml.body.contains(&format!(
        "<Id>{id}</Id><OrderId>OM-READ</OrderId><PaidAt>2020-11-25 14:30:00</PaidAt><PersonId i:nil=\"true\"/>"
    )));
    assert!(xml.body.ends_with("<StatusId>2</StatusId><StatusName>Betaald</StatusName><Value>25.00</Value></Value></ReturnResultOfPayments>"), "{}", xml.body);

    // A refund reported through the update reads back as HasRefunds; the order's Omnicasa
    // attributes, set through the native API, come back too.
    report(&app, &key, "OM-READ", 7, json!({})).await.assert_ok(1);
    let order = app.get("/v1/orders/OM-READ").await.json::<Value>().await.unwrap();
    let patched = app
        .request(Method::PATCH, &format!("/v1/orders/{}", order["id"].as_str().unwrap()), &app.admin_key)
        .json(&json!({"attributes": {"omnicasa": {"PersonId": 42, "PersonIdent": "P-42", "PropertyId": 7}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    let read_key = app.key(Scope::Read, Some(Source::Omnicasa)).await;
    let answer = get_order(&app, &format!("/payment/get-order/{read_key}?orderid=OM-READ&languageid=2"), None).await;
    let value = answer.json()["Value"].clone();
    assert_eq!((value["StatusId"].as_i64(), value["StatusName"].as_str()), (Some(7), Some("Remboursé")));
    assert_eq!((value["PersonId"].as_i64(), value["PersonIdent"].as_str()), (Some(42), Some("P-42")));
    assert_eq!((value["PropertyId"].as_i64(), value["PropertyIdent"].as_str()), (Some(7), None));
}
api_test!(the_read_side_answers_the_payment_order_in_json_and_xml);

async fn the_read_side_refuses_in_the_envelope_and_writes_nothing(app: TestApp) {
    let key = omnicasa_key(&app).await;
    open_payment(&app, "OM-R1").await;
    app.order("OM-EMPTY", 100).await;
    let before = app.trail(0).await;
    let failed = |answer: &Answer, status: u16, code: i32| {
        assert_eq!(answer.status, status, "{}", answer.body);
        let body = answer.json();
        assert_eq!((body["Success"].as_bool(), body["Code"].as_i64()), (Some(false), Some(code as i64)), "{body}");
        assert!(body["Message"].as_str().is_some_and(|m| !m.is_empty()));
        assert_eq!(body["Value"], Value::Null, "all four members, Value null");
    };
    let path = |query: &str| format!("/payment/get-order/{key}?{query}");
    failed(&get_order(&app, &path("OrderId=NOPE&LanguageId=3"), None).await, 404, 11);
    failed(&get_order(&app, &path("LanguageId=3"), None).await, 400, 7);
    failed(&get_order(&app, &path("OrderId=OM-R1&LanguageId=x"), None).await, 400, 10);
    failed(&get_order(&app, &path("OrderId=OM-R1&IsWriteLogSQL=maybe"), None).await, 400, 10);
    // Wrong and other-dialect keys look alike; the message speaks the query's language.
    let wrong = get_order(&app, "/payment/get-order/ps_nope?OrderId=OM-R1&LanguageId=3", None).await;
    failed(&wrong, 401, 1);
    let gormic = app.key(Scope::Write, Some(Source::Gormic)).await;
    let other = get_order(&app, &format!("/payment/get-order/{gormic}?OrderId=OM-R1&LanguageId=3"), None).await;
    assert_eq!(other.body, wrong.body);
    // Another tenant's order is not found; an order without a receipt has no payment order.
    let (other_tenant, _) = app.other_tenant().await;
    let stranger = app.key_of(&other_tenant, Scope::Write, Some(Source::Omnicasa)).await;
    failed(&get_order(&app, &format!("/payment/get-order/{stranger}?OrderId=OM-R1"), None).await, 404, 11);
    let order_id = app.get("/v1/orders/OM-R1").await.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    failed(&get_order(&app, &path(&format!("OrderId={order_id}")), None).await, 404, 11);
    failed(&get_order(&app, &path("OrderId=OM-EMPTY"), None).await, 404, 12);
    // Another method on the read's route: 405, Allow GET, in the envelope.
    let response =
        app.client.post(app.url(&path("OrderId=OM-R1"))).header("accept", "application/xml").send().await.unwrap();
    assert_eq!((response.status().as_u16(), response.headers()["allow"].to_str().unwrap()), (405, "GET"));
    let body = response.text().await.unwrap();
    assert!(
        body.contains("<Code>18</Code>") && body.ends_with("<Value i:nil=\"true\"/></ReturnResultOfPayments>"),
        "{body}"
    );
    assert_eq!(app.trail(0).await, before, "reads write nothing");
}
api_test!(the_read_side_refuses_in_the_envelope_and_writes_nothing);
