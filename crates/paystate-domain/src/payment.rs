//! Payments and the one pure function that decides what a command does to a payment.

use crate::status::{Transition, judge};
use crate::{
    Actor, Currency, DomainError, EventDraft, EventType, MethodId, Order, OrderId, OrderState, PaymentId,
    PaymentStatus, Source, TenantId, Timestamp,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

pub mod reported;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PaymentType {
    /// Money received for the order.
    Receipt,
    /// Money paid back, recorded as a payment of its own that names its source receipt.
    Refund,
}

impl PaymentType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Receipt => "receipt",
            Self::Refund => "refund",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Receipt, Self::Refund].into_iter().find(|t| t.as_str() == text)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Payment {
    pub id: PaymentId,
    pub tenant_id: TenantId,
    pub order_id: OrderId,
    /// The id a vendor or caller uses for this payment; unique per tenant.
    pub external_id: Option<String>,
    #[serde(rename = "type")]
    pub kind: PaymentType,
    pub source_payment_id: Option<PaymentId>,
    pub method_id: Option<MethodId>,
    /// Minor units of `currency`.
    pub amount: i64,
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "EUR"))]
    pub currency: Currency,
    pub status: PaymentStatus,
    pub amount_refunded: i64,
    pub amount_charged_back: i64,
    pub has_refunds: bool,
    pub has_chargebacks: bool,
    pub paid_at: Option<chrono::DateTime<chrono::Utc>>,
    pub completed_at: Option<chrono::DateTime<chrono::Utc>>,
    pub reversed_at: Option<chrono::DateTime<chrono::Utc>>,
    pub transaction_ref: Option<String>,
    pub invoice_id: Option<String>,
    pub note: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub attrs: serde_json::Value,
    pub custom: bool,
    /// Set when a report contradicted a settled status; cleared by an admin's resolve.
    pub needs_review: bool,
    pub deleted_at: Option<chrono::DateTime<chrono::Utc>>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub created_by: String,
    pub created_via: Source,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    pub updated_by: String,
    pub updated_via: Source,
    /// Bumped by every change; used for optimistic concurrency.
    pub version: i64,
}

/// What a caller gives to create a payment.
#[derive(Clone, Debug, Default)]
pub struct NewPayment {
    pub external_id: Option<String>,
    pub kind: Option<PaymentType>,
    pub source_payment_id: Option<PaymentId>,
    pub method_id: Option<MethodId>,
    pub amount: i64,
    pub currency: Option<Currency>,
    pub transaction_ref: Option<String>,
    pub invoice_id: Option<String>,
    pub note: Option<String>,
    pub attrs: serde_json::Value,
    pub custom: bool,
}

/// Changes to a payment's non-status fields. `None` leaves a field as it is; `Some(None)` clears it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PaymentPatch {
    pub amount: Option<i64>,
    pub method_id: Option<Option<MethodId>>,
    pub external_id: Option<Option<String>>,
    pub transaction_ref: Option<Option<String>>,
    pub invoice_id: Option<Option<String>>,
    pub note: Option<Option<String>>,
    pub attrs: Option<serde_json::Value>,
    pub custom: Option<bool>,
    /// Required to change a paid or reversed payment; every correction is audited with before and after.
    pub correction: bool,
}

/// How a refund or chargeback without an amount is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MissingAmount {
    /// The rest of the paid amount (the native API's "refund what remains").
    Remaining,
    /// Only the fact is known (Omnicasa's HasRefunds): set the flag, leave the amounts.
    FlagOnly,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Adjustment {
    Refund,
    Chargeback,
}

#[derive(Clone, Debug, PartialEq)]
pub enum PaymentCommand {
    /// A provider or caller reports the payment's status.
    ReportStatus {
        status: PaymentStatus,
        paid_at: Option<Timestamp>,
    },
    /// Money went back to the customer (refund) or was pulled back (chargeback). The status stays paid.
    Adjust {
        kind: Adjustment,
        amount: Option<i64>,
        missing: MissingAmount,
    },
    /// Admin only: settle a conflict, optionally forcing a status, with a reason.
    Resolve {
        status: Option<PaymentStatus>,
    },
    Update(PaymentPatch),
    Delete,
}

/// What a command did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The payment changed.
    Applied,
    /// Nothing to do: the payment already says this.
    Unchanged,
    /// A late report of an earlier status: acknowledged, recorded, not applied.
    Stale,
    /// A report contradicting a settled status: recorded and flagged for review, not applied.
    Conflict { current: PaymentStatus, reported: PaymentStatus },
}

/// The result of deciding a command: the payment after it, and the events to append.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    pub payment: Payment,
    pub outcome: Outcome,
    pub events: Vec<EventDraft>,
}

impl Decision {
    /// A report that contradicts what paystate holds of `payment`: not applied, but recorded (a
    /// `payment.conflict` event with `detail`) and the payment flagged for review, because a
    /// provider's report is a fact that the audit trail must keep even when it cannot be applied.
    /// `reported` is the status the report implies.
    pub fn contradicted(
        payment: &Payment,
        reported: PaymentStatus,
        detail: serde_json::Value,
        actor: &Actor,
        now: Timestamp,
    ) -> Decision {
        let mut next = payment.touched(actor, now);
        next.needs_review = true;
        Decision {
            events: vec![EventDraft::payment(EventType::PaymentConflict, &next, detail)],
            payment: next,
            outcome: Outcome::Conflict { current: payment.status, reported },
        }
    }

    /// True when the payment row must be written (events alone may still be recorded).
    pub fn payment_changed(&self) -> bool {
        !self.events.is_empty() && self.events.iter().any(|e| e.kind != EventType::PaymentStaleUpdate)
    }
}

impl Payment {
    /// Creates a payment of `order`. The payment starts open; a status is then reported as a command.
    pub fn create(
        order: &Order,
        new: NewPayment,
        actor: &Actor,
        now: Timestamp,
    ) -> Result<(Payment, EventDraft), DomainError> {
        if order.state != OrderState::Open {
            return Err(DomainError::OrderNotOpen(order.state));
        }
        if let Some(currency) = new.currency
            && currency != order.currency
        {
            return Err(DomainError::Invalid {
                field: "currency",
                message: format!("must be the order's currency {}", order.currency),
            });
        }
        let kind = new.kind.unwrap_or(PaymentType::Receipt);
        if kind == PaymentType::Refund && new.source_payment_id.is_none() {
            return Err(DomainError::Invalid {
                field: "source_payment_id",
                message: "is required for a refund".into(),
            });
        }
        let payment = Payment {
            id: PaymentId::generate(),
            tenant_id: order.tenant_id.clone(),
            order_id: order.id.clone(),
            external_id: new.external_id.map(|e| crate::order::validate_reference("external_id", &e)).transpose()?,
            kind,
            source_payment_id: new.source_payment_id,
            method_id: new.method_id,
            amount: crate::money::check_range(new.amount)?,
            currency: order.currency,
            status: PaymentStatus::Open,
            amount_refunded: 0,
            amount_charged_back: 0,
            has_refunds: false,
            has_chargebacks: false,
            paid_at: None,
            completed_at: None,
            reversed_at: None,
            transaction_ref: optional_text("transaction_ref", new.transaction_ref)?,
            invoice_id: optional_text("invoice_id", new.invoice_id)?,
            note: optional_text("note", new.note)?,
            attrs: crate::order::object_or_empty(new.attrs, "attrs")?,
            custom: new.custom,
            needs_review: false,
            deleted_at: None,
            created_at: now,
            created_by: actor.name(),
            created_via: actor.source,
            updated_at: now,
            updated_by: actor.name(),
            updated_via: actor.source,
            version: 1,
        };
        let event = EventDraft::payment(EventType::PaymentCreated, &payment, serde_json::Value::Null);
        Ok((payment, event))
    }

    /// Whether the payment is settled (paid or reversed): its fields then change only as an
    /// audited correction.
    pub fn is_settled(&self) -> bool {
        matches!(self.status, PaymentStatus::Paid | PaymentStatus::Reversed)
    }

    /// Whether `id` names this payment: its paystate id or its external id.
    pub fn is_named_by(&self, id: &str) -> bool {
        id == self.id.as_str() || self.external_id.as_deref() == Some(id)
    }

    /// What is left of the paid amount after refunds and chargebacks.
    pub fn remaining(&self) -> i64 {
        self.amount - self.amount_refunded - self.amount_charged_back
    }

    /// The actions a caller may take now; derived from `decide` so it never offers one that fails.
    pub fn allowed(&self, command: &PaymentCommand) -> bool {
        decide(self, command, &probe_actor(self), self.updated_at)
            .is_ok_and(|d| !matches!(d.outcome, Outcome::Conflict { .. } | Outcome::Stale))
    }

    fn touched(&self, actor: &Actor, now: Timestamp) -> Payment {
        let mut next = self.clone();
        next.updated_at = now;
        next.updated_by = actor.name();
        next.updated_via = actor.source;
        next.version += 1;
        next
    }
}

fn probe_actor(payment: &Payment) -> Actor {
    Actor {
        tenant_id: payment.tenant_id.clone(),
        key_id: None,
        user_id: None,
        source: payment.updated_via,
        request_id: String::new(),
        request_body: None,
    }
}

fn optional_text(field: &'static str, value: Option<String>) -> Result<Option<String>, DomainError> {
    match value {
        Some(text) if text.chars().count() > 2000 || text.contains('\0') => {
            Err(DomainError::Invalid { field, message: "must be at most 2000 characters without NUL".into() })
        }
        other => Ok(other),
    }
}

/// The status machine applied to a payment: decides what `command` does, without side effects.
///
/// A stale report yields a `payment.stale_update` event and no change; a conflict yields the
/// payment flagged `needs_review` and a `payment.conflict` event; both are decisions, not errors,
/// because the audit trail must keep them. Errors are commands that cannot be accepted at all.
pub fn decide(
    payment: &Payment,
    command: &PaymentCommand,
    actor: &Actor,
    now: Timestamp,
) -> Result<Decision, DomainError> {
    if payment.deleted_at.is_some() {
        return Err(DomainError::Deleted);
    }
    let unchanged = || Decision { payment: payment.clone(), outcome: Outcome::Unchanged, events: vec![] };
    match command {
        PaymentCommand::ReportStatus { status, paid_at } => {
            let reported = *status;
            match judge(payment.status, reported) {
                Transition::Same => Ok(unchanged()),
                Transition::Stale => Ok(Decision {
                    payment: payment.clone(),
                    outcome: Outcome::Stale,
                    events: vec![EventDraft::payment(
                        EventType::PaymentStaleUpdate,
                        payment,
                        json!({"reported_status": reported, "current_status": payment.status}),
                    )],
                }),
                Transition::Conflict => Ok(Decision::contradicted(
                    payment,
                    reported,
                    json!({"reported_status": reported, "current_status": payment.status}),
                    actor,
                    now,
                )),
                Transition::Advance => {
                    let mut next = payment.touched(actor, now);
                    set_status(&mut next, reported, *paid_at, now);
                    Ok(Decision {
                        events: vec![EventDraft::payment(
                            EventType::PaymentStatusChanged,
                            &next,
                            json!({"previous_status": payment.status}),
                        )],
                        payment: next,
                        outcome: Outcome::Applied,
                    })
                }
            }
        }
        PaymentCommand::Adjust { kind, amount, missing } => adjust(payment, *kind, *amount, *missing, actor, now),
        PaymentCommand::Resolve { status } => {
            let mut next = payment.touched(actor, now);
            next.needs_review = false;
            if let Some(status) = status {
                set_status(&mut next, *status, None, now);
            }
            if !payment.needs_review && next.status == payment.status {
                return Err(DomainError::NotAllowed { status: payment.status, action: "resolve" });
            }
            Ok(Decision {
                events: vec![EventDraft::payment(
                    EventType::PaymentResolved,
                    &next,
                    json!({"previous_status": payment.status}),
                )],
                payment: next,
                outcome: Outcome::Applied,
            })
        }
        PaymentCommand::Update(patch) => update(payment, patch, actor, now),
        PaymentCommand::Delete => {
            if payment.is_settled() {
                return Err(DomainError::NotAllowed { status: payment.status, action: "delete" });
            }
            let mut next = payment.touched(actor, now);
            next.deleted_at = Some(now);
            Ok(Decision {
                events: vec![EventDraft::payment(EventType::PaymentDeleted, &next, serde_json::Value::Null)],
                payment: next,
                outcome: Outcome::Applied,
            })
        }
    }
}

fn set_status(next: &mut Payment, status: PaymentStatus, paid_at: Option<Timestamp>, now: Timestamp) {
    next.status = status;
    match status {
        PaymentStatus::Paid => {
            next.paid_at = Some(paid_at.unwrap_or(now));
            next.completed_at = Some(now);
        }
        PaymentStatus::Reversed => {
            next.reversed_at = Some(now);
        }
        _ => {}
    }
}

fn adjust(
    payment: &Payment,
    kind: Adjustment,
    amount: Option<i64>,
    missing: MissingAmount,
    actor: &Actor,
    now: Timestamp,
) -> Result<Decision, DomainError> {
    let action = match kind {
        Adjustment::Refund => "refund",
        Adjustment::Chargeback => "chargeback",
    };
    if payment.status != PaymentStatus::Paid {
        // A refund of a payment that was never paid contradicts what we know: a conflict.
        let detail = json!({"reported": action, "current_status": payment.status});
        return Ok(Decision::contradicted(payment, PaymentStatus::Paid, detail, actor, now));
    }
    let flag_already = match kind {
        Adjustment::Refund => payment.has_refunds,
        Adjustment::Chargeback => payment.has_chargebacks,
    };
    let requested = match (amount, missing) {
        (Some(amount), _) => {
            if amount <= 0 {
                return Err(DomainError::Invalid { field: "amount", message: "must be greater than zero".into() });
            }
            crate::money::check_range(amount)?
        }
        (None, MissingAmount::Remaining) => {
            if payment.remaining() == 0 {
                // Everything is already returned: a repeated "refund all" changes nothing.
                return Ok(Decision { payment: payment.clone(), outcome: Outcome::Unchanged, events: vec![] });
            }
            payment.remaining()
        }
        (None, MissingAmount::FlagOnly) if flag_already => {
            return Ok(Decision { payment: payment.clone(), outcome: Outcome::Unchanged, events: vec![] });
        }
        (None, MissingAmount::FlagOnly) => 0,
    };
    if requested > payment.remaining() {
        return Err(DomainError::ExceedsAvailable { requested, available: payment.remaining() });
    }
    let mut next = payment.touched(actor, now);
    let event = match kind {
        Adjustment::Refund => {
            next.amount_refunded += requested;
            next.has_refunds = true;
            EventType::PaymentRefunded
        }
        Adjustment::Chargeback => {
            next.amount_charged_back += requested;
            next.has_chargebacks = true;
            EventType::PaymentChargedBack
        }
    };
    Ok(Decision {
        events: vec![EventDraft::payment(event, &next, json!({"amount": requested}))],
        payment: next,
        outcome: Outcome::Applied,
    })
}

fn update(payment: &Payment, patch: &PaymentPatch, actor: &Actor, now: Timestamp) -> Result<Decision, DomainError> {
    let settled = payment.is_settled();
    let mut next = payment.clone();
    if let Some(amount) = patch.amount {
        let amount = crate::money::check_range(amount)?;
        if amount < payment.amount_refunded + payment.amount_charged_back {
            return Err(DomainError::Invalid {
                field: "amount",
                message: "must not be below what was already refunded and charged back".into(),
            });
        }
        next.amount = amount;
    }
    if let Some(method) = &patch.method_id {
        next.method_id = method.clone();
    }
    if let Some(external) = &patch.external_id {
        next.external_id =
            external.as_deref().map(|e| crate::order::validate_reference("external_id", e)).transpose()?;
    }
    if let Some(value) = &patch.transaction_ref {
        next.transaction_ref = optional_text("transaction_ref", value.clone())?;
    }
    if let Some(value) = &patch.invoice_id {
        next.invoice_id = optional_text("invoice_id", value.clone())?;
    }
    if let Some(value) = &patch.note {
        next.note = optional_text("note", value.clone())?;
    }
    if let Some(attrs) = &patch.attrs {
        next.attrs = crate::order::object_or_empty(attrs.clone(), "attrs")?;
    }
    if let Some(custom) = patch.custom {
        next.custom = custom;
    }
    if next == *payment {
        return Ok(Decision { payment: payment.clone(), outcome: Outcome::Unchanged, events: vec![] });
    }
    if settled && !patch.correction {
        return Err(DomainError::NotAllowed { status: payment.status, action: "update" });
    }
    let before = serde_json::to_value(payment).unwrap_or_default();
    let mut next = Payment {
        updated_at: now,
        updated_by: actor.name(),
        updated_via: actor.source,
        version: payment.version + 1,
        ..next
    };
    next.deleted_at = payment.deleted_at;
    let after = serde_json::to_value(&next).unwrap_or_default();
    Ok(Decision {
        events: vec![EventDraft::payment(
            EventType::PaymentUpdated,
            &next,
            json!({"correction": settled, "before": before, "after": after}),
        )],
        payment: next,
        outcome: Outcome::Applied,
    })
}

#[cfg(test)]
pub(crate) mod tests;
