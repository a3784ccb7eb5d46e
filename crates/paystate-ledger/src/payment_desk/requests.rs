//! The payment desk's requests, each one job of one transaction, every rule checked before its first write.

use super::steps::{advance, after, lock, method_of, source_of};
use super::{DeskBook, DeskChange, DeskCreated, DeskPayment, Field, PaymentDeskError, invalid};
use crate::jobs::{found, live_payments};
use crate::transact::JobResult;
use crate::{RefundCap, apply, apply_as_desk, find_order, find_payment, open_payment_with};
use futures::FutureExt;
use futures::future::BoxFuture;
use paystate_domain::order_book::{Marks, OrderBook, Target, client_attrs, is_final, stored_attrs};
use paystate_domain::payment::NewPayment;
use paystate_domain::{Actor, Order, OrderId, Payment, PaymentCommand, PaymentPatch, PaymentStatus, PaymentType};
use paystate_store::{StoreError, Tx};

type Job<'t, T> = BoxFuture<'t, JobResult<T, PaymentDeskError>>;

// --- create -------------------------------------------------------------------------------

pub(super) fn create(tx: &mut dyn Tx, actor: Actor, input: DeskPayment) -> Job<'_, DeskCreated> {
    async move {
        let order = match find_order(tx, &actor.tenant_id, &input.order).await {
            Err(StoreError::NotFound) => return Err(PaymentDeskError::OrderNotFound.into()),
            found => found?,
        };
        let source = match &input.source {
            Some(raw) => Some(source_of(tx, &actor, raw, &order).await?),
            None => None,
        };
        let payments = live_payments(tx, &order).await?;
        let book = OrderBook::new(&order, &payments);
        book.open()?;
        let amount = input.amount.minor(order.currency)?;
        let method_id = match &input.method {
            Some(raw) => Some(method_of(tx, &actor, raw, None).await?),
            None => None,
        };
        if input.kind == PaymentType::Refund {
            let source = source.as_ref().ok_or_else(|| invalid("source_payment_id", "is required for a refund"))?;
            if source.status != PaymentStatus::Paid {
                return Err(invalid("source_payment_id", "must name a completed receipt of the same order").into());
            }
            // A refund voided from the start never takes money from its receipt.
            if input.target != Target::Reversed {
                book.refund_fits(source, amount, None)?;
            }
        }
        let marks = Marks {
            customer_uid: input.customer_uid,
            in_progress: input.target == Target::InProgress,
            booked: input.kind == PaymentType::Refund && input.target == Target::Paid,
        };
        let new = NewPayment {
            external_id: None,
            kind: Some(input.kind),
            source_payment_id: source.as_ref().map(|s| s.id.clone()),
            method_id,
            amount,
            currency: None,
            transaction_ref: input.transaction_ref,
            invoice_id: input.invoice_id,
            note: input.note,
            attrs: stored_attrs(input.attrs, &marks),
            custom: input.custom,
        };
        // The order book's rules, the refund cap among them, were applied above.
        let payment = open_payment_with(tx, &actor, &order, new, RefundCap::HeldByCaller).await?;
        let mut reports = Vec::new();
        let payment = advance(tx, &actor, payment, input.target, source.as_ref(), &mut reports).await?;
        Ok(DeskCreated { id: payment.id, reports })
    }
    .boxed()
}

// --- update and confirm -------------------------------------------------------------------

pub(super) fn change(
    tx: &mut dyn Tx,
    actor: Actor,
    order_id: OrderId,
    uid: String,
    change: DeskChange,
) -> Job<'_, DeskBook> {
    async move {
        let (order, payment) = lock(tx, &actor, &order_id, &uid).await?;
        if payment.deleted_at.is_some() {
            return Err(PaymentDeskError::PaymentNotFound.into());
        }
        let source = identify(tx, &actor, &order, &payment, &change).await?;
        let payments = live_payments(tx, &order).await?;
        let book = OrderBook::new(&order, &payments);
        book.open()?;
        let (patch, planned) = plan(tx, &actor, &book, &payment, source.as_ref(), &change).await?;

        // Check the status change before anything is written.
        match change.target {
            Some(Target::Paid) => book.check_confirm(&planned)?,
            Some(Target::Reversed) => book.check_reverse(&payment)?,
            Some(target @ (Target::Pending | Target::InProgress)) => book.check_pending(&payment, target)?,
            None => {}
        }

        // Write: the fields (the domain refuses a complete payment without correction), then the status.
        let mut reports = Vec::new();
        let mut current = payment;
        if patch != (PaymentPatch { correction: patch.correction, ..PaymentPatch::default() }) {
            // A voided payment is as final as a reversed one (the domain only guards the latter).
            if !patch.correction && is_final(&current) {
                book.check_update(&current)?;
            }
            // The desk writes the marks (a refund it completes is booked).
            current = apply_as_desk(tx, &actor, &current, &PaymentCommand::Update(patch), None).await?.0;
        }
        if let Some(target) = change.target {
            advance(tx, &actor, current, target, source.as_ref(), &mut reports).await?;
        }
        let mut after = after(tx, &actor, order).await?;
        after.reports = reports;
        Ok(after)
    }
    .boxed()
}

/// Checks that what the change names (payment, order, source) is the payment's own, and reads
/// a refund's source receipt (locked: completing the refund books on it).
async fn identify(
    tx: &mut dyn Tx,
    actor: &Actor,
    order: &Order,
    payment: &Payment,
    change: &DeskChange,
) -> JobResult<Option<Payment>, PaymentDeskError> {
    if let Some(id) = &change.id
        && !payment.is_named_by(id)
    {
        return Err(invalid("payment_id", "does not name the payment of the path").into());
    }
    if let Some(reference) = &change.order
        && reference != order.id.as_str()
        && reference != &order.reference
    {
        return Err(invalid("order_id", "is not the payment's order").into());
    }
    let source = match &payment.source_payment_id {
        Some(id) if payment.kind == PaymentType::Refund => tx.payment(&actor.tenant_id, id).await?,
        _ => None,
    };
    if let Some(raw) = &change.source {
        let named = found(find_payment(tx, &actor.tenant_id, raw).await)?.map(|named| named.id);
        if named.is_none() || named != payment.source_payment_id {
            let message = "cannot be changed; when given it must be the payment's own source";
            return Err(invalid("source_payment_id", message).into());
        }
    }
    Ok(source)
}

/// Plans the change of fields: the patch, and the payment as the patch leaves it.
async fn plan(
    tx: &mut dyn Tx,
    actor: &Actor,
    book: &OrderBook<'_>,
    payment: &Payment,
    source: Option<&Payment>,
    change: &DeskChange,
) -> JobResult<(PaymentPatch, Payment), PaymentDeskError> {
    let mut patch = PaymentPatch { correction: change.correction, ..PaymentPatch::default() };
    let mut planned = payment.clone();
    if let Some(amount) = &change.amount {
        let minor = amount.minor(book.order.currency)?;
        if minor != payment.amount {
            book.check_amount(payment, minor, source, change.target == Some(Target::Reversed))?;
            patch.amount = Some(minor);
            planned.amount = minor;
        }
    }
    match &change.method {
        Field::Absent => {}
        Field::Null => patch.method_id = Some(None),
        Field::Set(raw) => patch.method_id = Some(Some(method_of(tx, actor, raw, payment.method_id.as_ref()).await?)),
    }
    patch.custom = change.custom;
    patch.transaction_ref = change.transaction_ref.clone().patch();
    patch.invoice_id = change.invoice_id.clone().patch();
    patch.note = change.note.clone().patch();
    let mut marks = Marks::of(payment);
    if let Some(customer) = change.customer_uid.clone().patch() {
        marks.customer_uid = customer;
    }
    match change.target {
        Some(Target::Pending) => marks.in_progress = false,
        Some(Target::InProgress) => marks.in_progress = true,
        // A refund completed here is booked on its receipt by `advance`.
        Some(Target::Paid) if payment.kind == PaymentType::Refund && payment.status != PaymentStatus::Paid => {
            marks.booked = planned.amount > 0;
        }
        _ => {}
    }
    let client = match change.attrs.clone() {
        Field::Absent => client_attrs(payment),
        Field::Null => serde_json::Map::new(),
        Field::Set(attrs) => attrs,
    };
    let attrs = stored_attrs(client, &marks);
    if attrs != payment.attrs {
        patch.attrs = Some(attrs);
    }
    Ok((patch, planned))
}

// --- delete -------------------------------------------------------------------------------

pub(super) fn delete(tx: &mut dyn Tx, actor: Actor, order_id: OrderId, uid: String) -> Job<'_, DeskBook> {
    async move {
        let (order, payment) = lock(tx, &actor, &order_id, &uid).await?;
        // Deleting a deleted payment again changes nothing and answers the same.
        if payment.deleted_at.is_none() {
            let payments = live_payments(tx, &order).await?;
            OrderBook::new(&order, &payments).check_delete(&payment)?;
            apply(tx, &actor, &payment, &PaymentCommand::Delete, None).await?;
        }
        Ok(after(tx, &actor, order).await?)
    }
    .boxed()
}
