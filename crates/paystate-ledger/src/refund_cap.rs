//! The per-receipt refund cap, held wherever a refund payment is created ([`crate::open_payment`])
//! or confirmed ([`crate::apply`]), so that every surface (native API, dialects, console) refuses
//! what the domain's [`OrderBook::refund_fits`] refuses. Also the reading of an order's live
//! payments, which the cap and the payment desk both need.

use paystate_domain::order_book::OrderBook;
use paystate_domain::{DomainError, Order, Payment, PaymentStatus, PaymentType};
use paystate_store::{PageRequest, PaymentFilter, Reader, StoreError, StoreResult, Tx};

/// Payments of an order are read in pages of this size.
const PAGE: u32 = 500;

/// The live (not deleted) payments of an order, oldest first.
pub(crate) async fn live_payments(reader: &mut (impl Reader + ?Sized), order: &Order) -> StoreResult<Vec<Payment>> {
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

/// A new refund payment (not yet written) must fit in what remains refundable of `source`.
pub(crate) async fn hold_on_create(
    tx: &mut (impl Tx + ?Sized),
    order: &Order,
    source: &Payment,
    refund: &Payment,
) -> StoreResult<()> {
    let payments = live_payments(tx, order).await?;
    OrderBook::new(order, &payments).refund_fits(source, refund.amount, None).map_err(refused)
}

/// A refund payment about to become paid (`before` as it is now) must still fit in its receipt:
/// the receipt may have been reversed, corrected or charged back since the refund was created.
pub(crate) async fn hold_on_confirm(tx: &mut (impl Tx + ?Sized), before: &Payment) -> StoreResult<()> {
    if before.kind != PaymentType::Refund || before.status == PaymentStatus::Paid {
        return Ok(());
    }
    let tenant = &before.tenant_id;
    let order = tx.order(tenant, &before.order_id).await?.ok_or(StoreError::NotFound)?;
    let source = match &before.source_payment_id {
        Some(id) => tx.payment(tenant, id).await?,
        None => None,
    };
    let Some(source) = source else {
        // A refund always names its receipt; one that does not has nothing to refund.
        return Err(DomainError::ExceedsAvailable { requested: before.amount, available: 0 }.into());
    };
    let payments = live_payments(tx, &order).await?;
    OrderBook::new(&order, &payments).refund_fits(&source, before.amount, Some(&before.id)).map_err(refused)
}

fn refused(error: paystate_domain::order_book::BookError) -> StoreError {
    DomainError::from(error).into()
}
