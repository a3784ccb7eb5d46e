//! The status report's body into the ledger's input, and the checks the report carries.
//!
//! The merchant plugin posts `{apiKey, id, status, trust_Seed, trust_Value, alt_Trust_Value}`,
//! bound the way ASP.NET binds JSON: property names case-insensitively, unknown properties
//! ignored, `null` and `""` as "not given". `status` carries a WooCommerce order status, which
//! becomes a command of the canonical status machine. `trust_Value` and `trust_Seed` are
//! consistency checks of the report against the payment's order ([`TrustCheck`]), run by the
//! ledger on what its transaction read. Everything here is pure.

use super::errors::Errors;
use super::render::{ATTRS_MEMBER, SEED_MEMBER};
use crate::dialects::json::Members;
use base64::Engine;
use md5::Digest;
use paystate_domain::payment::{Adjustment, MissingAmount};
use paystate_domain::{PaymentCommand, PaymentStatus};
use paystate_ledger::{KeptValue, PaymentReport, ReportContext};
use serde_json::{Map, Value};

/// The body's properties as the document spells them.
pub const API_KEY: &str = "apiKey";
pub const ID: &str = "id";
pub const STATUS: &str = "status";
pub const TRUST_SEED: &str = "trust_Seed";
pub const TRUST_VALUE: &str = "trust_Value";
pub const ALT_TRUST_VALUE: &str = "alt_Trust_Value";

/// The member paystate adds to its audit copy of the body: the decoded `trust_Seed`.
pub const DECODED_SEED: &str = "trust_Seed_decoded";

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

/// Binds the body's properties case-insensitively (`trust_seed`, `TRUST_SEED` and `trust_Seed`
/// are one property), with the messages of what it refused. Unknown properties are ignored, as
/// ASP.NET ignores them; one property given twice in different spellings is refused rather than
/// guessed; an empty string is not given, as ASP.NET binds it.
pub fn bind(object: &Map<String, Value>) -> (StatusUpdate, Errors) {
    let members = Members::root(object).ignoring_case();
    let mut errors = Errors::default();
    let mut string = |field: &str| match members.string(field) {
        Ok(text) => text.filter(|text| !text.is_empty()).map(str::to_owned),
        Err(refused) => {
            errors.refused(&refused);
            None
        }
    };
    let update = StatusUpdate {
        api_key: string(API_KEY),
        id: string(ID),
        status: string(STATUS),
        trust_seed: string(TRUST_SEED),
        trust_value: string(TRUST_VALUE),
        alt_trust_value: string(ALT_TRUST_VALUE),
    };
    (update, errors)
}

/// A report that passed validation (not `Debug`: it holds the API key).
pub struct Report {
    /// The key the caller presented, in the header or the body.
    pub api_key: String,
    pub status: WooStatus,
    /// The `trust_Seed` as sent, kept with the payment for the read-back.
    pub trust_seed: Option<String>,
    /// The body as the audit trail keeps it (see [`audit_body`]).
    pub audit_body: String,
    /// What the ledger checks against the payment and its order.
    pub check: TrustCheck,
}

/// Validates a bound body: `status` is required and must be a WooCommerce status, and the key
/// must have been presented (`api_key`, `None` when `KeyHeader::presented_key` refused it into
/// `errors`). All messages are answered at once, before any data is read.
pub fn report(
    object: &Map<String, Value>,
    update: StatusUpdate,
    api_key: Option<String>,
    mut errors: Errors,
) -> Result<Report, Errors> {
    let status = match update.status.as_deref() {
        None if !errors.0.contains_key(STATUS) => {
            errors.required(STATUS);
            None
        }
        None => None,
        Some(text) => {
            let parsed = WooStatus::parse(text);
            if parsed.is_none() {
                errors.add(STATUS, WooStatus::allowed_message());
            }
            parsed
        }
    };
    let (Some(api_key), Some(status), true) = (api_key, status, errors.is_empty()) else { return Err(errors) };
    let seed = update.trust_seed.as_deref().map(decode_seed);
    let decoded = seed.as_ref().and_then(|seed| seed.as_ref().ok());
    Ok(Report {
        api_key,
        status,
        audit_body: audit_body(object, decoded),
        check: TrustCheck { id: update.id, trust_value: update.trust_value, seed: seed.map(|seed| seed.map(drop)) },
        trust_seed: update.trust_seed,
    })
}

/// The ledger's input: `status` for the payment of `payment_id` (its id or external id), the seed
/// kept with it first.
pub fn ledger_report(report: &Report, payment_id: String) -> PaymentReport {
    PaymentReport {
        payment: payment_id,
        keep: report.trust_seed.as_ref().map(|seed| KeptValue {
            section: ATTRS_MEMBER.into(),
            key: SEED_MEMBER.into(),
            value: seed.as_str().into(),
        }),
        command: report.status.command(),
    }
}

/// The checks of a report that need its payment: the body's `id`, and the trust values when the
/// tenant verifies them (`settings.teljoy.verify_trust`, true unless set to false).
///
/// They are Teljoy's consistency checks, in Teljoy's vocabulary (the MD5 of the shop's order id, a
/// base64 product list), and hold on no other surface: not domain rules but a pure function the
/// ledger runs inside its transaction, on the payment (locked) and the order it read, so that
/// nothing checked can change between the check and the write. Their refusal comes back as these
/// validation messages, typed.
#[derive(Clone, Debug)]
pub struct TrustCheck {
    id: Option<String>,
    trust_value: Option<String>,
    /// `Ok` when the seed decoded, `Err` when it did not, `None` when none was given.
    seed: Option<Result<(), SeedError>>,
}

impl TrustCheck {
    /// The check of the report of the payment the path named (`path_id`, its id or external id),
    /// as the ledger runs it on what its transaction read.
    pub fn for_path(
        &self,
        path_id: &str,
    ) -> impl Fn(ReportContext<'_>) -> Result<(), Errors> + Clone + Send + Sync + 'static {
        let (check, path_id) = (self.clone(), path_id.to_owned());
        move |seen| check.run(&path_id, seen)
    }

    /// `path_id` is the payment as the path named it (its id or external id).
    pub fn run(&self, path_id: &str, seen: ReportContext<'_>) -> Result<(), Errors> {
        let (payment, order_reference) = (seen.payment, seen.order.reference.as_str());
        let mut errors = Errors::default();
        if let Some(id) = self.id.as_deref() {
            let same = id == path_id || payment.is_named_by(id);
            if !same {
                errors.add(ID, "The id field must equal the payment id in the path.");
            }
        }
        if paystate_domain::dialect_settings::verifies_trust(seen.tenant) {
            match self.trust_value.as_deref() {
                None => errors.required(TRUST_VALUE),
                Some(value) if !trust_value_matches(value, order_reference) => {
                    errors.add(TRUST_VALUE, "The trust_Value field must be the MD5 hex of the order id.");
                }
                Some(_) => {}
            }
            match &self.seed {
                None => errors.required(TRUST_SEED),
                Some(Err(error)) => errors.add(TRUST_SEED, error.message()),
                Some(Ok(())) => {}
            }
        }
        if errors.is_empty() { Ok(()) } else { Err(errors) }
    }
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

#[cfg(test)]
mod tests;
