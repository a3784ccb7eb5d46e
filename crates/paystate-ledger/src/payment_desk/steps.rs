//! The steps the payment desk's jobs are made of: locking, finding what a request names, and
//! reporting a status (booking a completed refund on its receipt).

use super::{DeskBook, PaymentDeskError, StatusReport, invalid};
use crate::jobs::live_payments;
use crate::transact::JobResult;
use crate::{apply, find_payment};
use paystate_domain::order_book::{BookError, Target};
use paystate_domain::payment::{Adjustment, MissingAmount};
use paystate_domain::{Actor, MethodId, Order, OrderId, Outcome, Payment, PaymentCommand, PaymentType};
use paystate_store::{StoreError, StoreResult, Tx};

/// Locks the order, then the payment the uid names.
pub(super) async fn lock(
    tx: &mut dyn Tx,
    actor: &Actor,
    order_id: &OrderId,
    uid: &str,
) -> JobResult<(Order, Payment), PaymentDeskError> {
    let order = tx.order(&actor.tenant_id, order_id).await?.ok_or(PaymentDeskError::PaymentNotFound)?;
    let payment = match find_payment(tx, &actor.tenant_id, uid).await {
        Err(StoreError::NotFound) => return Err(PaymentDeskError::PaymentNotFound.into()),
        found => found?,
    };
    if payment.order_id != order.id {
        // The uid (an external id) was moved to a payment of another order meanwhile.
        return Err(PaymentDeskError::Moved.into());
    }
    Ok((order, payment))
}

/// The order's book after a change.
pub(super) async fn after(tx: &mut dyn Tx, actor: &Actor, order: Order) -> StoreResult<DeskBook> {
    let payments = live_payments(tx, &order).await?;
    let methods =
        if payments.iter().any(|p| p.method_id.is_some()) { tx.methods(&actor.tenant_id).await? } else { Vec::new() };
    Ok(DeskBook { order, payments, methods, reports: Vec::new() })
}

/// The receipt a new refund names: a live receipt of the same order (locked).
pub(super) async fn source_of(
    tx: &mut dyn Tx,
    actor: &Actor,
    raw: &str,
    order: &Order,
) -> JobResult<Payment, PaymentDeskError> {
    let refused = || invalid("source_payment_id", "must name a completed receipt of the same order");
    let source = match find_payment(tx, &actor.tenant_id, raw).await {
        Err(StoreError::NotFound) => return Err(refused().into()),
        found => found?,
    };
    if source.deleted_at.is_some() || source.order_id != order.id || source.kind != PaymentType::Receipt {
        return Err(refused().into());
    }
    Ok(source)
}

/// The method a request names, by id or by code. It must be visible, unless it is the one the
/// payment already has.
pub(super) async fn method_of(
    tx: &mut dyn Tx,
    actor: &Actor,
    raw: &str,
    current: Option<&MethodId>,
) -> JobResult<MethodId, PaymentDeskError> {
    let tenant = &actor.tenant_id;
    let mut method = match MethodId::parse(raw) {
        Some(id) => tx.method(tenant, &id).await?,
        None => None,
    };
    if method.is_none() {
        method = tx.methods(tenant).await?.into_iter().find(|m| m.code == raw);
    }
    match method {
        Some(method) if method.visible || Some(&method.id) == current => Ok(method.id),
        _ => Err(PaymentDeskError::MethodNotFound(raw.to_owned()).into()),
    }
}

/// Reports `target` through the status machine. A refund that becomes paid is booked on its
/// source receipt (`amount_refunded`), in the same transaction, so every API sees it.
pub(super) async fn advance(
    tx: &mut dyn Tx,
    actor: &Actor,
    payment: Payment,
    target: Target,
    source: Option<&Payment>,
    reports: &mut Vec<StatusReport>,
) -> JobResult<Payment, PaymentDeskError> {
    let command = PaymentCommand::ReportStatus { status: target.canonical_for(payment.status), paid_at: None };
    let (payment, outcome) = apply(tx, actor, &payment, &command, None).await?;
    reports.push(StatusReport { outcome, status: payment.status });
    if target == Target::Paid
        && outcome == Outcome::Applied
        && payment.kind == PaymentType::Refund
        && payment.amount > 0
    {
        let source = source.ok_or(BookError::SourceNotCompleted)?;
        let adjust = PaymentCommand::Adjust {
            kind: Adjustment::Refund,
            amount: Some(payment.amount),
            missing: MissingAmount::Remaining,
        };
        let reason = format!("refund {} completed through {}", payment.id, actor.source.as_str());
        let (_, booked) = apply(tx, actor, source, &adjust, Some(&reason)).await?;
        if booked != Outcome::Applied {
            return Err(BookError::SourceNotCompleted.into());
        }
    }
    Ok(payment)
}
