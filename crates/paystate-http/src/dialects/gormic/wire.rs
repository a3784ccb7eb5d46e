//! Gormic's wire format: its status vocabulary, the envelope, the items and payment methods
//! answered inside it, and the OpenAPI description of the request bodies and of the error
//! format. The bodies themselves are read by [`super::parse`], the answers written by
//! [`super::render`].

use paystate_domain::order_book::{Marks, Target};
use paystate_domain::{Payment, PaymentStatus};
use serde::Serialize;
use serde_json::{Map, Number, Value};
use std::collections::BTreeMap;

// --- statuses -------------------------------------------------------------------------------

/// Gormic's payment statuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Complete,
    Pending,
    Progress,
    Reversed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Complete => "complete",
            Self::Pending => "pending",
            Self::Progress => "progress",
            Self::Reversed => "reversed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Complete, Self::Pending, Self::Progress, Self::Reversed].into_iter().find(|s| s.as_str() == text)
    }

    /// The status a Gormic status asks a payment to reach (`reversed` voids a payment never
    /// paid and reverses a paid one: [`Target::canonical_for`]).
    pub fn target(self) -> Target {
        match self {
            Self::Complete => Target::Paid,
            Self::Pending => Target::Pending,
            Self::Progress => Target::InProgress,
            Self::Reversed => Target::Reversed,
        }
    }

    /// A target in Gormic's words.
    pub fn of_target(target: Target) -> Self {
        match target {
            Target::Paid => Self::Complete,
            Target::Pending => Self::Pending,
            Target::InProgress => Self::Progress,
            Target::Reversed => Self::Reversed,
        }
    }

    /// How a canonical payment reads in Gormic (payments of other APIs may hold statuses Gormic
    /// has no word for: open reads pending, authorized progress, and the failed, expired and
    /// canceled ones, which never became money, read reversed).
    pub fn of(payment: &Payment) -> Self {
        Self::of_parts(payment.status, Marks::of(payment).in_progress)
    }

    /// A canonical status in Gormic's words, pending reading progress when `in_progress`.
    pub fn of_parts(status: PaymentStatus, in_progress: bool) -> Self {
        match status {
            PaymentStatus::Pending if in_progress => Self::Progress,
            status => Self::of_canonical(status),
        }
    }

    /// A canonical status in Gormic's words, when the payment itself is not at hand.
    pub fn of_canonical(status: PaymentStatus) -> Self {
        match status {
            PaymentStatus::Open | PaymentStatus::Pending => Self::Pending,
            PaymentStatus::Authorized => Self::Progress,
            PaymentStatus::Paid => Self::Complete,
            PaymentStatus::Reversed | PaymentStatus::Failed | PaymentStatus::Expired | PaymentStatus::Canceled => {
                Self::Reversed
            }
        }
    }
}

// --- responses ----------------------------------------------------------------------------------

/// Every answer of this dialect.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = gormic::Envelope<T>)]
#[serde(rename_all = "camelCase")]
pub struct Envelope<T> {
    /// Always "paystate".
    pub app: &'static str,
    /// Always "om".
    pub service: &'static str,
    #[schema(value_type = Vec<Object>)]
    pub warnings: Vec<Value>,
    /// Identifies the running paystate instance.
    pub instance_id: String,
    /// The request's id, also in the `x-request-id` header.
    pub request_id: String,
    pub data: T,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = gormic::Created)]
pub struct Created {
    /// The new payment's id (the `uid` of the other routes).
    pub id: String,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = gormic::Updated)]
pub struct Updated {
    pub success: bool,
}

/// The order's payments after the change, and the payment methods they use.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = gormic::Items)]
#[serde(rename_all = "camelCase")]
pub struct Items {
    pub items: Vec<Item>,
    pub payment_methods: Vec<MethodItem>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = gormic::Payment)]
#[serde(rename_all = "camelCase")]
pub struct Item {
    /// receipt or refund.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// complete, pending, progress or reversed.
    pub status: &'static str,
    pub completed_at: Option<String>,
    pub reversed_at: Option<String>,
    pub custom: bool,
    /// Major units of the order's currency.
    #[schema(value_type = f64, example = 12.5)]
    pub amount: Number,
    pub source_payment_id: Option<String>,
    pub transaction_ref: Option<String>,
    #[schema(value_type = Object)]
    pub attrs: Map<String, Value>,
    pub invoice_id: Option<String>,
    pub note: Option<String>,
    pub created_at: String,
    /// The API the payment was created through (gormic, native, …).
    pub created_via: &'static str,
    /// The API key that created it.
    pub created_by: String,
    pub updated_at: String,
    pub updated_via: &'static str,
    pub updated_by: String,
    pub id: String,
    /// The actions the payment allows now: confirm, update, delete, reverse, refund.
    pub can: Vec<&'static str>,
    pub method_uid: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = gormic::PaymentMethod)]
#[serde(rename_all = "camelCase")]
pub struct MethodItem {
    pub locales: BTreeMap<String, LocaleItem>,
    pub visible: bool,
    pub created_at: String,
    pub created_via: &'static str,
    pub created_by: String,
    pub updated_at: String,
    pub updated_via: &'static str,
    pub updated_by: String,
    pub id: String,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = gormic::Locale)]
pub struct LocaleItem {
    pub name: String,
    pub description: String,
}

// --- documentation of the request bodies (the bodies themselves are read by `params`) ----------

/// `{"params": {…}}` of `POST /v1/om/payments`.
#[derive(utoipa::ToSchema)]
#[schema(as = gormic::CreateRequest)]
pub struct CreateRequest {
    pub params: CreateParams,
}

#[derive(utoipa::ToSchema)]
#[schema(as = gormic::CreateParams, rename_all = "camelCase")]
pub struct CreateParams {
    /// The order's id or reference (required).
    pub order_id: String,
    /// receipt or refund (required). A string: the integers of an older Gormic revision
    /// (`"type": 1`) are refused with InvalidParameter.
    #[schema(rename = "type", example = "receipt")]
    pub kind: String,
    pub custom: Option<bool>,
    /// Major units of the order's currency, a number or a decimal string; at most the
    /// currency's decimals, greater than zero (required).
    #[schema(value_type = f64, example = 12.5)]
    pub amount: f64,
    /// A visible payment method: its id or its code.
    pub method_id: Option<String>,
    pub customer_uid: Option<String>,
    /// complete, pending (default), progress or reversed. A string: the integers of an older
    /// Gormic revision (`"status": 1`) are refused with InvalidParameter.
    pub status: Option<String>,
    /// Required for a refund: a completed receipt of the same order. `null` is absent.
    pub source_payment_id: Option<String>,
    /// `null` and `""` are absent.
    pub transaction_ref: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub attrs: Option<Value>,
    pub invoice_id: Option<String>,
    /// `null` and `""` are absent.
    pub note: Option<String>,
}

/// `{"params": {…}}` of `PATCH /v1/om/payments/{uid}`.
#[derive(utoipa::ToSchema)]
#[schema(as = gormic::UpdateRequest)]
pub struct UpdateRequest {
    pub params: UpdateParams,
}

#[derive(utoipa::ToSchema)]
#[schema(as = gormic::UpdateParams, rename_all = "camelCase")]
pub struct UpdateParams {
    /// When given, the payment of the path.
    pub id: Option<String>,
    /// When given, the payment's order.
    pub order_id: Option<String>,
    #[schema(value_type = Option<f64>, example = 12.5)]
    pub amount: Option<f64>,
    /// A visible payment method (id or code); null removes it.
    pub method_id: Option<String>,
    pub custom: Option<bool>,
    /// Required to change a complete (or reversed) payment; recorded with before and after.
    pub correction: Option<bool>,
    pub customer_uid: Option<String>,
    /// complete, pending, progress or reversed (a string; integers are refused).
    pub status: Option<String>,
    /// When given, the refund's own source (it cannot change). `null` is absent.
    pub source_payment_id: Option<String>,
    /// `null` leaves it as it is; `""` clears it.
    pub transaction_ref: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub attrs: Option<Value>,
    pub invoice_id: Option<String>,
    /// `null` leaves it as it is; `""` clears it.
    pub note: Option<String>,
}

/// `{"params": {…}}` of `PATCH /v1/om/payments/{uid}/confirm` (the body is optional).
#[derive(utoipa::ToSchema)]
#[schema(as = gormic::ConfirmRequest)]
pub struct ConfirmRequest {
    pub params: ConfirmParams,
}

#[derive(utoipa::ToSchema)]
#[schema(as = gormic::ConfirmParams, rename_all = "camelCase")]
pub struct ConfirmParams {
    pub id: Option<String>,
    pub order_id: Option<String>,
    pub customer_uid: Option<String>,
    /// `null` leaves it as it is.
    pub transaction_ref: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub attrs: Option<Value>,
}

/// Every refusal: HTTP 400 for the rules, 401, 403, 404, 413, 415 and 503 otherwise.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = gormic::Error)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = gormic::ErrorDetail)]
pub struct ErrorDetail {
    /// INVALID_STATUS, LIMIT_REACHED, MethodNotFound, ORDER_CANCELED, ORDER_CLOSED,
    /// InvalidParameter, UNAUTHORIZED, FORBIDDEN, NOT_FOUND, METHOD_NOT_ALLOWED,
    /// PAYLOAD_TOO_LARGE, UNSUPPORTED_MEDIA_TYPE, SERVICE_UNAVAILABLE or INTERNAL_ERROR.
    pub code: String,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip() {
        for status in [Status::Complete, Status::Pending, Status::Progress, Status::Reversed] {
            assert_eq!(Status::parse(status.as_str()), Some(status));
            assert_eq!(Status::of_target(status.target()), status);
        }
        assert_eq!(Status::parse("COMPLETE"), None);
    }
}
