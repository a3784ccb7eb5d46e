//! The steps a use case's job is made of: find an order or a payment, open one, apply a
//! command through the status machine, each inside the job's transaction. The ledger's use cases
//! compose them; they are public for tests and benchmarks that seed many records in one
//! transaction, never for a surface (a surface calls a use case).

use crate::{now, refund_cap};
use paystate_domain::order::{NewOrder, OrderPatch};
use paystate_domain::order_book;
use paystate_domain::payment::{NewPayment, decide};
use paystate_domain::{
    Actor, DomainError, Order, OrderId, Outcome, Payment, PaymentCommand, PaymentId, PaymentPatch, PaymentType,
    TenantId,
};
use paystate_store::{PageRequest, PaymentFilter, Reader, StoreError, StoreResult, Tx};

/// An order by id or reference, within a job.
pub async fn find_order(
    reader: &mut (impl Reader + ?Sized),
    tenant: &TenantId,
    id_or_reference: &str,
) -> StoreResult<Order> {
    if let Some(id) = OrderId::parse(id_or_reference)
        && let Some(order) = reader.order(tenant, &id).await?
    {
        return Ok(order);
    }
    reader.order_by_reference(tenant, id_or_reference).await?.ok_or(StoreError::NotFound)
}

/// A payment by id or external id, within a job (locked until commit inside a write job).
pub async fn find_payment(
    reader: &mut (impl Reader + ?Sized),
    tenant: &TenantId,
    id_or_external: &str,
) -> StoreResult<Payment> {
    if let Some(id) = PaymentId::parse(id_or_external)
        && let Some(payment) = reader.payment(tenant, &id).await?
    {
        return Ok(payment);
    }
    reader.payment_by_external_id(tenant, id_or_external).await?.ok_or(StoreError::NotFound)
}

/// Opens an order and records `order.created`, within a job.
pub async fn open_order(tx: &mut (impl Tx + ?Sized), actor: &Actor, new: NewOrder) -> StoreResult<Order> {
    let (order, event) = Order::open(new, actor, now())?;
    tx.insert_order(&order).await?;
    tx.record(actor, event);
    Ok(order)
}

/// Patches an order read in this job and records `order.updated`, when the patch changes anything.
pub async fn apply_order_patch(
    tx: &mut (impl Tx + ?Sized),
    actor: &Actor,
    order: Order,
    patch: OrderPatch,
) -> StoreResult<Order> {
    match order.patch(patch, actor, now())? {
        Some((next, event)) => {
            tx.update_order(&next).await?;
            tx.record(actor, event);
            Ok(next)
        }
        None => Ok(order),
    }
}

/// Creates a payment of `order` and records `payment.created`, within a job. A refund must name
/// a receipt of the same order and fit in what remains refundable of it (the per-receipt refund
/// cap of the domain's order book), whichever surface creates it; a refund of a receipt not paid
/// yet waits, and is held when it becomes paid ([`apply`]).
pub async fn open_payment(
    tx: &mut (impl Tx + ?Sized),
    actor: &Actor,
    order: &Order,
    new: NewPayment,
) -> StoreResult<Payment> {
    open_payment_with(tx, actor, order, new, RefundCap::Hold).await
}

/// Whether [`open_payment_with`] holds the refund cap itself.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum RefundCap {
    Hold,
    /// The caller applied the order book's rules already (the payment desk, which also creates
    /// refunds voided from the start, which never take money from their receipt, and writes the
    /// marks of the payments it creates).
    HeldByCaller,
}

pub(crate) async fn open_payment_with(
    tx: &mut (impl Tx + ?Sized),
    actor: &Actor,
    order: &Order,
    mut new: NewPayment,
    cap: RefundCap,
) -> StoreResult<Payment> {
    let mut source = None;
    if let Some(id) = &new.source_payment_id {
        source = tx.payment(&actor.tenant_id, id).await?;
        if !source.as_ref().is_some_and(|s| s.order_id == order.id && s.kind == PaymentType::Receipt) {
            return Err(DomainError::Invalid {
                field: "source_payment_id",
                message: "must name a receipt of the same order".into(),
            }
            .into());
        }
    }
    if let Some(method) = &new.method_id
        && tx.method(&actor.tenant_id, method).await?.is_none()
    {
        return Err(DomainError::Invalid { field: "method_id", message: "no such payment method".into() }.into());
    }
    if cap == RefundCap::Hold {
        // Only the desk marks a payment (see `apply`).
        new.attrs = order_book::with_marks_of(std::mem::take(&mut new.attrs), None);
    }
    let (payment, event) = Payment::create(order, new, actor, now())?;
    // Checked once the domain has vetted the payment, so that its other refusals come first.
    if let (Some(source), PaymentType::Refund, RefundCap::Hold) = (&source, payment.kind, cap) {
        refund_cap::hold_on_create(tx, order, source, &payment).await?;
    }
    tx.insert_payment(&payment).await?;
    tx.record(actor, event);
    Ok(payment)
}

/// Decides a command against a payment read in this job, holds the per-receipt refund cap on the
/// decision (whichever surface sent the command), and writes the decision. A change of `attrs`
/// keeps the payment's marks as they are ([`order_book::with_marks_of`]): only the payment desk
/// writes them ([`apply_as_desk`]).
pub async fn apply(
    tx: &mut (impl Tx + ?Sized),
    actor: &Actor,
    payment: &Payment,
    command: &PaymentCommand,
    reason: Option<&str>,
) -> StoreResult<(Payment, Outcome)> {
    if let PaymentCommand::Update(patch) = command
        && let Some(attrs) = &patch.attrs
    {
        let attrs = Some(order_book::with_marks_of(attrs.clone(), Some(payment)));
        let command = PaymentCommand::Update(PaymentPatch { attrs, ..patch.clone() });
        return apply_as_desk(tx, actor, payment, &command, reason).await;
    }
    apply_as_desk(tx, actor, payment, command, reason).await
}

/// [`apply`] for the payment desk, whose changes of `attrs` carry the marks it keeps.
pub(crate) async fn apply_as_desk(
    tx: &mut (impl Tx + ?Sized),
    actor: &Actor,
    payment: &Payment,
    command: &PaymentCommand,
    reason: Option<&str>,
) -> StoreResult<(Payment, Outcome)> {
    if let PaymentCommand::Update(patch) = command
        && let Some(Some(method)) = &patch.method_id
        && tx.method(&actor.tenant_id, method).await?.is_none()
    {
        return Err(DomainError::Invalid { field: "method_id", message: "no such payment method".into() }.into());
    }
    let now = now();
    let mut decision = decide(payment, command, actor, now)?;
    // The per-receipt refund cap, on every command of every surface: a refund that becomes paid,
    // a refund's or a paid receipt's new amount, money recorded as gone back of a receipt. Only
    // such changes read the order's payments.
    if decision.outcome == Outcome::Applied && order_book::concerns_cap(payment, &decision.payment) {
        decision = refund_cap::hold(tx, actor, payment, command, decision, now).await?;
    }
    if decision.payment_changed() {
        tx.update_payment(&decision.payment).await?;
    }
    for mut event in decision.events {
        if let Some(reason) = reason {
            if !event.detail.is_object() {
                event.detail = serde_json::json!({});
            }
            event.detail["reason"] = reason.into();
        }
        tx.record(actor, event);
    }
    Ok((decision.payment, decision.outcome))
}

/// Payments of an order are read in pages of this size.
const PAGE: u32 = 500;

/// The live (not deleted) payments of an order, oldest first.
pub async fn live_payments(reader: &mut (impl Reader + ?Sized), order: &Order) -> StoreResult<Vec<Payment>> {
    let filter = PaymentFilter { order_id: Some(order.id.clone()), ..PaymentFilter::default() };
    let mut payments: Vec<Payment> = Vec::new();
    loop {
        let page = PageRequest { after: payments.last().map(|p| p.id.to_string()), limit: PAGE };
        let batch = reader.payments(&order.tenant_id, &filter, &page).await?;
        let full = batch.len() == PAGE as usize;
        payments.extend(batch);
        if !full {
            return Ok(payments);
        }
    }
}

/// `Some` for a record found, `None` for one that does not exist.
pub(crate) fn found<T>(result: StoreResult<T>) -> StoreResult<Option<T>> {
    match result {
        Ok(record) => Ok(Some(record)),
        Err(StoreError::NotFound) => Ok(None),
        Err(error) => Err(error),
    }
}
