//! Use case: report a status for the payment of an order chosen by rule, and its read side.
//!
//! The reporter names an order by its reference, never a payment: the receipt the report is
//! about is chosen by the domain's rule ([`order_report::target`]), and the tenant's rules
//! (`settings.omnicasa`, read through [`paystate_domain::dialect_settings::omnicasa`]) say in
//! which zone a wall-clock time is placed and whether an unknown order (or an order without a
//! receipt) gets an open receipt created for the report. The whole report is one transaction: finding or
//! creating, then the status machine's decision. It finds or creates, so a concurrent request
//! creating the same order first makes it run again and find that order.

use crate::jobs::live_payments;
use crate::transact::{JobResult, Retry, Stop, transact};
use crate::{Ledger, apply, open_order, open_payment};
use futures::FutureExt;
use paystate_domain::dialect_settings::omnicasa::{InvalidSetting, Settings};
use paystate_domain::order::NewOrder;
use paystate_domain::order_report::{self, ReportedStatus, ReportedTime, Tz};
use paystate_domain::payment::NewPayment;
use paystate_domain::{Actor, Order, Outcome, Payment, PaymentType, TenantId};
use paystate_store::{Reader, StoreError, StoreExt, StoreResult, Tx};

/// A status report about the payment of the order whose reference is `reference`.
#[derive(Clone, Debug, PartialEq)]
pub struct ReportOrderStatus {
    pub reference: String,
    pub status: ReportedStatus,
    /// When the payment was paid, as reported.
    pub paid_at: Option<ReportedTime>,
}

/// What the report did.
#[derive(Clone, Debug)]
pub struct OrderStatusReported {
    /// The payment as it is now.
    pub payment: Payment,
    /// What the status machine made of the report (a conflict is recorded and flagged).
    pub outcome: Outcome,
    /// The payment (and maybe its order) was created by this report.
    pub created: bool,
}

/// The payment a report would be about, with what its reader needs to tell it.
#[derive(Clone, Debug)]
pub struct OrderStatus {
    pub order: Order,
    pub payment: Payment,
    /// The tenant's zone, in which the reporter reads and writes wall-clock times.
    pub zone: Tz,
}

/// Why a report (or its read) was refused. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum OrderStatusError {
    #[error("no order has this reference")]
    OrderNotFound,
    #[error("the order has no receipt to report on")]
    NoPayment,
    /// A tenant setting the report needs holds a value that cannot be used.
    #[error("tenant {tenant}: {setting}")]
    Settings { tenant: TenantId, setting: InvalidSetting },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Ledger {
    /// Reports a status for the payment of an order chosen by rule, in one transaction.
    pub async fn report_order_status(
        &self,
        actor: &Actor,
        report: ReportOrderStatus,
    ) -> Result<OrderStatusReported, OrderStatusError> {
        let job_actor = actor.clone();
        transact(&*self.store, &actor.tenant_id, Retry::OnConcurrentCreate, move |tx| {
            async move { job(tx, &job_actor, &report).await }.boxed()
        })
        .await
    }

    /// The order by its reference, the payment a status report would be about, and the
    /// tenant's zone; writes nothing.
    pub async fn order_status(&self, tenant: &TenantId, reference: &str) -> Result<OrderStatus, OrderStatusError> {
        let (tenant, reference) = (tenant.clone(), reference.to_owned());
        // Each statement stands alone, as a lookup by reference does elsewhere: no snapshot is
        // needed to tell one payment.
        self.store
            .lookup(move |r| {
                async move {
                    let Some(order) = r.order_by_reference(&tenant, &reference).await? else {
                        return Ok(Err(OrderStatusError::OrderNotFound));
                    };
                    let receipts = receipts(r, &order).await?;
                    // Any report but an adjustment's would be about this one.
                    let Some(payment) = order_report::target(&receipts, false).cloned() else {
                        return Ok(Err(OrderStatusError::NoPayment));
                    };
                    let owner = r.tenant(&tenant).await?.ok_or(StoreError::NotFound)?;
                    let zone = Settings(&owner).timezone();
                    Ok(zone
                        .map(|zone| OrderStatus { order, payment, zone })
                        .map_err(|setting| OrderStatusError::Settings { tenant, setting }))
                }
                .boxed()
            })
            .await?
    }
}

/// Finds (or, when the tenant's rules allow it, creates) the order and its receipt, and runs the
/// report through the status machine.
async fn job(
    tx: &mut dyn Tx,
    actor: &Actor,
    report: &ReportOrderStatus,
) -> JobResult<OrderStatusReported, OrderStatusError> {
    let tenant = tx.tenant(&actor.tenant_id).await?.ok_or(StoreError::NotFound)?;
    let settings = Settings(&tenant);
    let refuse = |setting| Stop::Refused(OrderStatusError::Settings { tenant: tenant.id.clone(), setting });
    // The zone is read only for a wall-clock time: an exact instant needs none, and a bad zone
    // must not fail reports that do not use it.
    let paid_at = match report.paid_at {
        None => None,
        Some(at) if at.needs_zone() => Some(at.instant(settings.timezone().map_err(refuse)?)),
        Some(at) => Some(at.instant(Tz::UTC)),
    };
    let create_unknown = || settings.create_unknown_orders().map_err(refuse);
    let (payment, created) = match tx.order_by_reference(&actor.tenant_id, &report.reference).await? {
        Some(order) => match target(tx, &order, report.status).await? {
            Some(payment) => (payment, false),
            None if create_unknown()? => (open_payment(tx, actor, &order, new_receipt()).await?, true),
            None => return Err(Stop::Refused(OrderStatusError::NoPayment)),
        },
        None if create_unknown()? => {
            let new = NewOrder {
                reference: report.reference.clone(),
                currency: settings.currency().map_err(refuse)?,
                total_amount: 0,
                customer: serde_json::Value::Null,
                attributes: serde_json::json!({}),
            };
            let order = open_order(tx, actor, new).await?;
            (open_payment(tx, actor, &order, new_receipt()).await?, true)
        }
        None => return Err(Stop::Refused(OrderStatusError::OrderNotFound)),
    };
    let (payment, outcome) = apply(tx, actor, &payment, &report.status.command(paid_at), None).await?;
    Ok(OrderStatusReported { payment, outcome, created })
}

/// The open receipt created for an order the reporter names but paystate does not know (or
/// knows without a receipt): its amount is unknown to the report, so it is 0 until someone
/// sets it.
fn new_receipt() -> NewPayment {
    NewPayment { kind: Some(PaymentType::Receipt), ..NewPayment::default() }
}

/// The receipt of `order` the report is about, read again so that the job holds its lock.
async fn target(tx: &mut dyn Tx, order: &Order, status: ReportedStatus) -> StoreResult<Option<Payment>> {
    let receipts = receipts(tx, order).await?;
    match order_report::target(&receipts, status.is_adjustment()) {
        Some(chosen) => tx.payment(&order.tenant_id, &chosen.id).await,
        None => Ok(None),
    }
}

/// Every receipt of `order` that is not deleted, page by page.
async fn receipts(reader: &mut (impl Reader + ?Sized), order: &Order) -> StoreResult<Vec<Payment>> {
    let payments = live_payments(reader, order).await?;
    Ok(payments.into_iter().filter(|p| p.kind == PaymentType::Receipt).collect())
}
