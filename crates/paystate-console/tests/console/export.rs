//! The payments list as CSV: the page's filters and search, every row across store pages,
//! amounts as exact decimals by the currency's exponent, UTC ISO 8601 times, formulas defused.

use crate::console_test;
use crate::helpers::TestApp;
use futures::FutureExt;
use paystate_domain::order::NewOrder;
use paystate_domain::payment::NewPayment;
use paystate_domain::{Actor, Currency, Role, Source};
use paystate_store::StoreExt;
use serde_json::json;

/// `count` open KWD payments written in one transaction (more than one page of the export).
async fn many(app: &TestApp, count: usize) {
    let actor = Actor {
        tenant_id: app.tenant_id.clone(),
        key_id: None,
        user_id: None,
        source: Source::Cli,
        request_id: "export-test".into(),
        request_body: None,
    };
    app.ledger
        .store()
        .write_for(&app.tenant_id, move |tx| {
            async move {
                for n in 0..count {
                    let currency = Currency::parse("KWD").unwrap();
                    let new = NewOrder {
                        reference: format!("BULK-{n}"),
                        currency,
                        total_amount: 1250,
                        customer: json!({}),
                        attributes: serde_json::Value::Null,
                    };
                    let order = paystate_ledger::jobs::open_order(tx, &actor, new).await?;
                    let new =
                        NewPayment { amount: 1250, external_id: Some(format!("psp-bulk-{n}")), ..Default::default() };
                    paystate_ledger::jobs::open_payment(tx, &actor, &order, new).await?;
                }
                Ok(())
            }
            .boxed()
        })
        .await
        .unwrap();
}

fn parse(csv: &str) -> Vec<Vec<String>> {
    csv.split("\r\n").filter(|l| !l.is_empty()).map(|l| l.split(',').map(str::to_owned).collect()).collect()
}

async fn the_payments_list_exports_as_csv_with_its_filters(app: TestApp) {
    let post = reqwest::Method::POST;
    app.paid_payment("CSV-1", "psp-csv-eur", 123_456).await;
    let order = json!({"reference": "CSV-Y", "currency": "JPY", "total_amount": 1500});
    assert_eq!(app.api(post.clone(), "/v1/orders", order).await.status(), 201);
    let yen = json!({"order_id": "CSV-Y", "amount": 1500, "external_id": "psp-csv-jpy", "transaction_ref": "=1+2"});
    let created = app.api(post, "/v1/payments", yen).await;
    assert_eq!(created.status(), 201, "{}", created.text().await.unwrap());
    many(&app, 520).await;

    let (email, password) = app.user(Role::Viewer).await;
    let session = app.login(&email, &password).await;
    let cookie = Some(session.cookie.as_str());
    let page = app.page(cookie, "/dashboard/payments?currency=JPY").await.text().await.unwrap();
    assert!(page.contains("href=\"/dashboard/payments.csv?currency=JPY\""), "the export carries the filters");

    let all = app.page(cookie, "/dashboard/payments.csv").await;
    assert_eq!(all.status(), 200);
    assert_eq!(all.headers()["content-type"], "text/csv; charset=utf-8");
    assert!(all.headers()["content-disposition"].to_str().unwrap().starts_with("attachment; filename=\"payments-"));
    let rows = parse(&all.text().await.unwrap());
    assert_eq!(rows[0][0], "id");
    assert_eq!(rows[0][6], "amount");
    assert_eq!(rows.len(), 1 + 2 + 520, "every payment, past the first store page");
    let ids: std::collections::HashSet<_> = rows[1..].iter().map(|r| r[0].clone()).collect();
    assert_eq!(ids.len(), 522, "each once");
    let eur = rows.iter().find(|r| r[1] == "psp-csv-eur").unwrap();
    assert_eq!(
        (eur[3].as_str(), eur[5].as_str(), eur[6].as_str(), eur[7].as_str()),
        ("paid", "EUR", "1234.56", "0.00")
    );
    assert!(chrono::DateTime::parse_from_rfc3339(&eur[12]).is_ok() && eur[12].ends_with('Z'), "{}", eur[12]);
    assert!(eur[14].ends_with('Z'), "paid at");
    let bulk = rows.iter().find(|r| r[1] == "psp-bulk-7").unwrap();
    assert_eq!((bulk[5].as_str(), bulk[6].as_str(), bulk[14].as_str()), ("KWD", "1.250", ""));

    let jpy = parse(&app.page(cookie, "/dashboard/payments.csv?currency=JPY").await.text().await.unwrap());
    assert_eq!(jpy.len(), 2);
    assert_eq!((jpy[1][1].as_str(), jpy[1][6].as_str()), ("psp-csv-jpy", "1500"));
    assert_eq!(jpy[1][9], "'=1+2", "a formula is defused");
    let searched = parse(&app.page(cookie, "/dashboard/payments.csv?q=psp-csv-eur").await.text().await.unwrap());
    assert_eq!(searched.len(), 2);
    assert_eq!(searched[1][1], "psp-csv-eur");
    assert_eq!(app.page(cookie, "/dashboard/payments.csv?currency=EURO").await.status(), 422);
    assert_eq!(app.page(None, "/dashboard/payments.csv").await.status(), 303, "a session is needed");

    let other = app.other_tenant_admin().await;
    let theirs = app.page(Some(&other.cookie), "/dashboard/payments.csv").await.text().await.unwrap();
    assert_eq!(parse(&theirs).len(), 1, "another tenant's export holds only its own (none)");
}
console_test!(the_payments_list_exports_as_csv_with_its_filters);
