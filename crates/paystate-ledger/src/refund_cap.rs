//! The per-receipt refund cap, held in the two places every write of a payment goes through:
//! where a refund payment is created ([`crate::open_payment`]) and where the status machine's
//! decision on any command is written ([`crate::apply`]). Every surface (native API, dialects,
//! console) is thereby held by the domain's own rules ([`OrderBook::refund_may_wait`],
//! [`OrderBook::hold`]), and none can go around them.

use crate::jobs::live_payments;
use paystate_domain::order_book::{BookError, OrderBook};
use paystate_domain::{Actor, Decision, DomainError, Order, Payment, PaymentCommand, Timestamp};
use paystate_store::{StoreError, StoreResult, Tx};

/// A new refund payment (not yet written) must fit in what remains refundable of `source`, or
/// wait for a receipt not paid yet (then it is held when it completes).
pub(crate) async fn hold_on_create(
    tx: &mut (impl Tx + ?Sized),
    order: &Order,
    source: &Payment,
    refund: &Payment,
) -> StoreResult<()> {
    let payments = live_payments(tx, order).await?;
    OrderBook::new(order, &payments).refund_may_wait(source, refund.amount, None).map_err(refused)
}

/// Holds the cap on a decision of the status machine about `before` (read in this job), which
/// the caller found to concern it ([`paystate_domain::order_book::concerns_cap`]): the decision
/// as it is, a conflict in its place (a provider's report), or the refusal.
pub(crate) async fn hold(
    tx: &mut (impl Tx + ?Sized),
    actor: &Actor,
    before: &Payment,
    command: &PaymentCommand,
    decision: Decision,
    now: Timestamp,
) -> StoreResult<Decision> {
    let order = tx.order(&before.tenant_id, &before.order_id).await?.ok_or(StoreError::NotFound)?;
    let payments = live_payments(tx, &order).await?;
    OrderBook::new(&order, &payments).hold(before, command, decision, actor, now).map_err(refused)
}

fn refused(error: BookError) -> StoreError {
    DomainError::from(error).into()
}
