//! Teljoy's wire types and their translation into paystate's commands.
//!
//! The merchant plugin posts `{apiKey, id, status, trust_Seed, trust_Value, alt_Trust_Value}`,
//! bound the way ASP.NET binds JSON: property names case-insensitively, unknown properties
//! ignored, `null` and `""` as "not given". `status` carries a WooCommerce order status.

use base64::Engine;
use md5::Digest;
use paystate_domain::payment::{Adjustment, MissingAmount};
use paystate_domain::{PaymentCommand, PaymentStatus};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The body's properties as the document spells them.
pub const API_KEY: &str = "apiKey";
pub const ID: &str = "id";
pub const STATUS: &str = "status";
pub const TRUST_SEED: &str = "trust_Seed";
pub const TRUST_VALUE: &str = "trust_Value";
pub const ALT_TRUST_VALUE: &str = "alt_Trust_Value";
const FIELDS: [&str; 6] = [API_KEY, ID, STATUS, TRUST_SEED, TRUST_VALUE, ALT_TRUST_VALUE];

/// The member paystate adds to its audit copy of the body: the decoded `trust_Seed`.
pub const DECODED_SEED: &str = "trust_Seed_decoded";

/// Validation errors by property name, as ASP.NET's `errors` map.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Errors(pub BTreeMap<String, Vec<String>>);

impl Errors {
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0.entry(field.to_owned()).or_default().push(message.into());
    }

    pub fn required(&mut self, field: &str) {
        self.add(field, format!("The {field} field is required."));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The status update as bound from the body.
#[derive(Default, Clone, PartialEq, Eq)]
pub struct StatusUpdate {
    pub api_key: Option<String>,
    pub id: Option<String>,
    pub status: Option<String>,
    pub trust_seed: Option<String>,
    pub trust_value: Option<String>,
    pub alt_trust_value: Option<String>,
}

/// Never prints the API key.
impl std::fmt::Debug for StatusUpdate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusUpdate")
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("id", &self.id)
            .field("status", &self.status)
            .field("trust_seed", &self.trust_seed)
            .field("trust_value", &self.trust_value)
            .field("alt_trust_value", &self.alt_trust_value)
            .finish()
    }
}

impl StatusUpdate {
    fn slot(&mut self, field: &str) -> &mut Option<String> {
        match field {
            API_KEY => &mut self.api_key,
            ID => &mut self.id,
            STATUS => &mut self.status,
            TRUST_SEED => &mut self.trust_seed,
            TRUST_VALUE => &mut self.trust_value,
            _ => &mut self.alt_trust_value,
        }
    }
}

/// Binds the body's properties case-insensitively (`trust_seed`, `TRUST_SEED` and `trust_Seed`
/// are one property). Unknown properties are ignored, as ASP.NET ignores them; one property
/// given twice in different spellings is refused rather than guessed.
pub fn bind(object: &Map<String, Value>, errors: &mut Errors) -> StatusUpdate {
    let mut update = StatusUpdate::default();
    let mut seen: Vec<&str> = Vec::new();
    for (name, value) in object {
        let Some(field) = FIELDS.iter().copied().find(|f| f.eq_ignore_ascii_case(name)) else { continue };
        if seen.contains(&field) {
            errors.add(field, format!("The {field} field was given more than once."));
            continue;
        }
        seen.push(field);
        match value {
            Value::Null => {}
            Value::String(text) if text.is_empty() => {}
            Value::String(text) => *update.slot(field) = Some(text.clone()),
            _ => errors.add(field, format!("The {field} field must be a string.")),
        }
    }
    update
}

/// A WooCommerce order status, the vocabulary of the `status` property: WooCommerce's own
/// statuses, without their `wc-` prefix (as the plugins send them). Statuses that other shop
/// plugins add (`shipped`, `ready-to-ship`, …) have no meaning paystate could rely on: they are
/// refused, naming the field, rather than guessed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WooStatus {
    Pending,
    OnHold,
    Processing,
    Completed,
    Cancelled,
    Refunded,
    Failed,
    /// The draft order of WooCommerce's block checkout, before the customer places it.
    CheckoutDraft,
}

impl WooStatus {
    pub const ALL: [WooStatus; 8] = [
        Self::Pending,
        Self::OnHold,
        Self::Processing,
        Self::Completed,
        Self::Cancelled,
        Self::Refunded,
        Self::Failed,
        Self::CheckoutDraft,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::OnHold => "on-hold",
            Self::Processing => "processing",
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
            Self::Refunded => "refunded",
            Self::Failed => "failed",
            Self::CheckoutDraft => "checkout-draft",
        }
    }

    /// Case-insensitive, as WooCommerce plugins differ in casing; nothing else is accepted.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str().eq_ignore_ascii_case(text))
    }

    /// The message naming the accepted values.
    pub fn allowed_message() -> String {
        let names: Vec<&str> = Self::ALL.iter().map(|s| s.as_str()).collect();
        format!(
            "The status field must be one of: {} (WooCommerce order statuses without the wc- prefix; statuses \
             added by other plugins are not accepted).",
            names.join(", ")
        )
    }

    /// The command this status is to the canonical machine. A refund is a fact about a paid
    /// payment (its status stays paid): `refunded` returns whatever remains of it. A checkout
    /// draft is an order nobody has placed yet: the payment's first status, `open`, which never
    /// moves a payment (the same, or a late report).
    pub fn command(self) -> PaymentCommand {
        let report = |status| PaymentCommand::ReportStatus { status, paid_at: None };
        match self {
            Self::CheckoutDraft => report(PaymentStatus::Open),
            Self::Pending | Self::OnHold => report(PaymentStatus::Pending),
            Self::Processing | Self::Completed => report(PaymentStatus::Paid),
            Self::Cancelled => report(PaymentStatus::Canceled),
            Self::Failed => report(PaymentStatus::Failed),
            Self::Refunded => {
                PaymentCommand::Adjust { kind: Adjustment::Refund, amount: None, missing: MissingAmount::Remaining }
            }
        }
    }
}

/// The `trust_Value` a shop computes for an order: the MD5 of its order id, in hex.
pub fn trust_value(order_reference: &str) -> String {
    hex::encode(md5::Md5::digest(order_reference.as_bytes()))
}

/// Whether a presented `trust_Value` is the one of the order (hex compared case-insensitively).
pub fn trust_value_matches(presented: &str, order_reference: &str) -> bool {
    presented.trim().eq_ignore_ascii_case(&trust_value(order_reference))
}

/// Why a `trust_Seed` was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeedError {
    NotBase64,
    NotProductList,
}

impl SeedError {
    pub fn message(self) -> &'static str {
        match self {
            Self::NotBase64 => "The trust_Seed field must be base64.",
            Self::NotProductList => "The trust_Seed field must be base64 of the order's product list in JSON.",
        }
    }
}

/// Decodes a `trust_Seed`: base64 (padding optional) of UTF-8 JSON, either a JSON array or
/// object, or the list's items without their brackets. The document's own example is the
/// latter: one product object followed by a comma (`{…},`), as a PHP plugin produces when it
/// joins items itself. Such a fragment is read as the list `[{…}]`; its items must be objects.
pub fn decode_seed(seed: &str) -> Result<Value, SeedError> {
    let bytes = base64::engine::general_purpose::STANDARD_PAD_INDIFFERENT
        .decode(seed.trim())
        .map_err(|_| SeedError::NotBase64)?;
    let text = std::str::from_utf8(&bytes).map_err(|_| SeedError::NotProductList)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    match serde_json::from_str::<Value>(text) {
        Ok(value @ (Value::Array(_) | Value::Object(_))) => return Ok(value),
        Ok(_) => return Err(SeedError::NotProductList),
        Err(_) => {}
    }
    let items = text.trim_end();
    let items = items.strip_suffix(',').unwrap_or(items);
    if items.trim().is_empty() {
        return Err(SeedError::NotProductList);
    }
    match serde_json::from_str::<Value>(&format!("[{items}]")) {
        Ok(Value::Array(list)) if list.iter().all(Value::is_object) => Ok(Value::Array(list)),
        _ => Err(SeedError::NotProductList),
    }
}

/// The body as the audit trail keeps it: the received object without the API key (a secret),
/// with the decoded `trust_Seed` added under [`DECODED_SEED`] when it decoded.
pub fn audit_body(object: &Map<String, Value>, decoded_seed: Option<&Value>) -> String {
    let mut copy = object.clone();
    copy.retain(|name, _| !name.eq_ignore_ascii_case(API_KEY) && !name.eq_ignore_ascii_case(DECODED_SEED));
    if let Some(seed) = decoded_seed {
        copy.insert(DECODED_SEED.to_owned(), seed.clone());
    }
    Value::Object(copy).to_string()
}

// --- the OpenAPI description of the wire types ---------------------------------------------------

/// The body of a status update. Property names bind case-insensitively.
#[derive(Serialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct TeljoyStatusRequest {
    /// The API key, when it is not sent in the `api-key` header; both must agree when both are sent.
    #[serde(rename = "apiKey")]
    api_key: Option<String>,
    /// The payment's id or external id; must equal the path's when given.
    id: Option<String>,
    /// A WooCommerce order status.
    #[schema(
        example = "completed",
        pattern = "(?i)^(pending|on-hold|processing|completed|cancelled|refunded|failed|checkout-draft)$"
    )]
    status: String,
    /// Base64 of the order's product list in JSON (a consistency check; required unless the tenant
    /// sets `teljoy.verify_trust` to false).
    #[serde(rename = "trust_Seed")]
    trust_seed: Option<String>,
    /// MD5 hex of the order id (a consistency check; required unless the tenant sets
    /// `teljoy.verify_trust` to false).
    #[serde(rename = "trust_Value")]
    #[schema(example = "c10cd9445121e4ed6ad0ab47cdde2882")]
    trust_value: Option<String>,
    /// Kept with the event as received.
    #[serde(rename = "alt_Trust_Value")]
    alt_trust_value: Option<String>,
}

/// The answer to an accepted update.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TeljoyStatusResponse {
    pub success: bool,
}

/// ASP.NET Core's problem details: every error of this API.
#[derive(Serialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct TeljoyProblem {
    #[serde(rename = "type")]
    #[schema(example = "https://tools.ietf.org/html/rfc7231#section-6.5.1")]
    kind: String,
    #[schema(example = "One or more validation errors occurred.")]
    title: String,
    #[schema(example = 400)]
    status: u16,
    detail: Option<String>,
    /// The request id (also in the `x-request-id` header).
    #[serde(rename = "traceId")]
    trace_id: String,
    /// For a 400: the property names and their messages.
    errors: Option<BTreeMap<String, Vec<String>>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The seed of the document's JavaScript example, verbatim.
    const DOCUMENT_SEED: &str = "ew0KCQkJCQkJIm5hbWUiOiJISVNFTlNFIDEwMEw1RiAxMDAmcXVvdDsgTEFTRVIgVFYxIiwNCgkJCQkJCSJza3UiOiIxMDBMNUYiLA0KCQkJCQkJInF1YW50aXR5IjoiMSIsDQoJCQkJCQkicHJpY2UiOiIxMjY1Ny4wMCIsDQoJCQkJCQkiZGVzY3JpcHRpb24iOiAic3RyaW5nIiwNCgkJCQkJCSJicmFuZCI6ICJzdHJpbmciLA0KCQkJCQkJIm1lcmNoYW50X3Byb2R1Y3RfaWQiOiI1Mzc4MyIsDQoJCQkJCQkidmVuZG9yIjogew0KCQkJCQkJCSJ2ZW5kb3JfaWQiOiAic3RyaW5nIiwNCgkJCQkJCQkidXJsIjogInN0cmluZyIsDQoJCQkJCQkJIm5hbWUiOiAic3RyaW5nIg0KCQkJCQkJfSwNCgkJCQkJCSJpbWFnZXMiOiBbDQoJCQkJCQkJImh0dHBzOi8vYXRvbWljdGVzdC5jby56YS93cC1jb250ZW50L3VwbG9hZHMvMjAyMS8xMS8xMDBMNUYuanBlZyIgDQoJCQkJCQldLA0KCQkJCQkJImJhcmNvZGVzIjogWw0KCQkJCQkJCSIiDQoJCQkJCQldLA0KCQkJCQkJImNhdGVnb3JpZXMiOiBbIA0KCQkJCQkJXSwNCgkJCQkJCSJwcm9wZXJ0aWVzIjogWw0KCQkJCQkJCXsNCgkJCQkJCQkia2V5IjogInN0cmluZyIsDQoJCQkJCQkJInZhbHVlIjogInN0cmluZyINCgkJCQkJCQl9DQoJCQkJCQldDQoJCQkJCX0s";

    fn b64(text: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    #[test]
    fn the_documents_seed_is_one_product_list_item() {
        let decoded = decode_seed(DOCUMENT_SEED).unwrap();
        let list = decoded.as_array().unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0]["sku"], "100L5F");
        assert_eq!(list[0]["name"], "HISENSE 100L5F 100&quot; LASER TV1");
        assert_eq!(list[0]["vendor"]["name"], "string");
        assert_eq!(list[0]["properties"][0]["key"], "string");
    }

    #[test]
    fn seeds_are_json_documents_or_list_items() {
        assert_eq!(decode_seed(&b64(r#"[{"sku":"A"},{"sku":"B"}]"#)).unwrap(), json!([{"sku":"A"},{"sku":"B"}]));
        assert_eq!(decode_seed(&b64(r#"{"sku":"A"}"#)).unwrap(), json!({"sku":"A"}));
        assert_eq!(
            decode_seed(&b64("{\"sku\":\"A\"},\r\n{\"sku\":\"B\"},\r\n")).unwrap(),
            json!([{"sku":"A"},{"sku":"B"}])
        );
        assert_eq!(decode_seed(&b64("\u{feff}[]")).unwrap(), json!([]));
        // Without padding, as some encoders write it.
        assert_eq!(decode_seed(b64("[1]").trim_end_matches('=')).unwrap(), json!([1]));
    }

    #[test]
    fn other_seeds_are_refused() {
        assert_eq!(decode_seed("your-trust-seed"), Err(SeedError::NotBase64));
        assert_eq!(decode_seed("%%%%"), Err(SeedError::NotBase64));
        assert_eq!(decode_seed(&b64("not json")), Err(SeedError::NotProductList));
        assert_eq!(decode_seed(&b64("42")), Err(SeedError::NotProductList));
        assert_eq!(decode_seed(&b64("\"text\"")), Err(SeedError::NotProductList));
        assert_eq!(decode_seed(&b64("1, 2,")), Err(SeedError::NotProductList), "items must be objects");
        assert_eq!(decode_seed(&b64("{}],[{}")), Err(SeedError::NotProductList), "no escaping the brackets");
        assert_eq!(decode_seed(&b64(",")), Err(SeedError::NotProductList));
        assert_eq!(decode_seed(""), Err(SeedError::NotProductList));
        let latin1 = base64::engine::general_purpose::STANDARD.encode([b'[', 0xe9, b']']);
        assert_eq!(decode_seed(&latin1), Err(SeedError::NotProductList));
    }

    #[test]
    fn trust_value_is_md5_hex_of_the_order_id() {
        assert_eq!(trust_value("76144"), "c10cd9445121e4ed6ad0ab47cdde2882");
        assert!(trust_value_matches("C10CD9445121E4ED6AD0AB47CDDE2882", "76144"));
        assert!(!trust_value_matches("c10cd9445121e4ed6ad0ab47cdde2882", "76145"));
    }

    #[test]
    fn properties_bind_case_insensitively_and_once() {
        let mut errors = Errors::default();
        let body = json!({"TRUST_SEED": "a", "trust_value": "b", "Alt_trust_value": "c", "STATUS": "Completed",
            "apikey": "k", "ID": "p", "other": 5});
        let update = bind(body.as_object().unwrap(), &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(update.trust_seed.as_deref(), Some("a"));
        assert_eq!(update.trust_value.as_deref(), Some("b"));
        assert_eq!(update.alt_trust_value.as_deref(), Some("c"));
        assert_eq!(update.status.as_deref(), Some("Completed"));
        assert_eq!(update.api_key.as_deref(), Some("k"));
        assert_eq!(update.id.as_deref(), Some("p"));
        assert!(!format!("{update:?}").contains("\"k\""), "the key is not printed");

        let body = json!({"status": 5, "trust_Seed": "a", "trust_seed": "b", "id": "", "apiKey": null});
        let update = bind(body.as_object().unwrap(), &mut errors);
        assert_eq!(errors.0["status"], ["The status field must be a string."]);
        assert_eq!(errors.0["trust_Seed"], ["The trust_Seed field was given more than once."]);
        assert_eq!(update.id, None, "an empty string is not given");
        assert_eq!(update.api_key, None);
    }

    #[test]
    fn woocommerce_statuses_map_to_the_canonical_machine() {
        let report = |status| PaymentCommand::ReportStatus { status, paid_at: None };
        let table = [
            ("pending", report(PaymentStatus::Pending)),
            ("ON-HOLD", report(PaymentStatus::Pending)),
            ("Processing", report(PaymentStatus::Paid)),
            ("completed", report(PaymentStatus::Paid)),
            ("cancelled", report(PaymentStatus::Canceled)),
            ("failed", report(PaymentStatus::Failed)),
            (
                "refunded",
                PaymentCommand::Adjust { kind: Adjustment::Refund, amount: None, missing: MissingAmount::Remaining },
            ),
            ("checkout-draft", report(PaymentStatus::Open)),
        ];
        for (text, command) in table {
            assert_eq!(WooStatus::parse(text).unwrap().command(), command, "{text}");
        }
        for other in ["canceled", "paid", "wc-completed", "on hold", " completed", "", "draft", "shipped"] {
            assert_eq!(WooStatus::parse(other), None, "{other}");
        }
        assert_eq!(
            WooStatus::allowed_message(),
            "The status field must be one of: pending, on-hold, processing, completed, cancelled, refunded, failed, \
             checkout-draft (WooCommerce order statuses without the wc- prefix; statuses added by other plugins are \
             not accepted)."
        );
    }

    #[test]
    fn the_audit_copy_has_no_api_key_and_the_decoded_seed() {
        let body = json!({"APIKEY": "psk_secret", "status": "completed", "trust_Seed_decoded": "forged"});
        let copy: Value =
            serde_json::from_str(&audit_body(body.as_object().unwrap(), Some(&json!([{"sku": "A"}])))).unwrap();
        assert_eq!(copy, json!({"status": "completed", "trust_Seed_decoded": [{"sku": "A"}]}));
        let copy: Value = serde_json::from_str(&audit_body(body.as_object().unwrap(), None)).unwrap();
        assert_eq!(copy, json!({"status": "completed"}));
    }
}
