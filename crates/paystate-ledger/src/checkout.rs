//! The checkout use case: upsert an order and its payment from a checkout's report, and report
//! the payment's state through the status machine, in one transaction.
//!
//! A checkout (Norce Checkout's payment adapter hook, for one) sends the whole order each time
//! anything changes. This use case keeps the order (total, customer, the checkout's snapshot) and
//! the payment (amount, method, transaction reference, snapshot), then lets the domain's plan of a
//! reported state (`paystate_domain::payment::reported`) decide what the report does to the
//! payment's status. Late orders change nothing of what is held; late or contradicting states are
//! recorded by the machine as stale or as a conflict. The checkout's own vocabulary stays in its
//! dialect: here its snapshots are opaque JSON kept under the member its source names.

use crate::jobs::found;
use crate::transact::{JobResult, Retry, Stop, transact};
use crate::{Ledger, apply, apply_order_patch, find_order, find_payment, open_order, open_payment};
use paystate_domain::order::{NewOrder, OrderPatch};
use paystate_domain::payment::NewPayment;
use paystate_domain::payment::reported::{Plan, ReportedState, Step, plan};
use paystate_domain::{
    Actor, Currency, MethodId, Order, Outcome, Payment, PaymentCommand, PaymentPatch, PaymentType, Source, Tenant,
    TenantId, Timestamp, dialect_settings,
};
use paystate_store::{StoreError, StoreResult, Tx};
use serde_json::Value;

/// A checkout's report of an order and one of its payments, in domain terms.
#[derive(Clone, Debug)]
pub struct CheckoutUpdate {
    /// The checkout: whose merchants the tenant lists (`settings.<source>.merchants`), and the
    /// member of `attributes` and `attrs` that keeps its snapshots.
    pub source: Source,
    /// The checkout's merchant; it must be one of the tenant's.
    pub merchant: String,
    /// The order's reference, derived from the checkout's ids.
    pub order_reference: String,
    /// The payment's external id, derived from the checkout's ids.
    pub payment_external_id: String,
    /// The order's currency, which never changes once the order is held.
    pub currency: Currency,
    /// The order's total in minor units, when the checkout says it.
    pub total: Option<i64>,
    /// The order's customer, verbatim (null when absent).
    pub customer: Value,
    /// What is kept of the checkout's order, under `attributes.<source>`.
    pub order_snapshot: Value,
    /// When the checkout last changed the order, when it says.
    pub modified_at: Option<Timestamp>,
    /// When a held snapshot (`attributes.<source>`) says the order last changed: a snapshot is
    /// in the checkout's own format, which only its dialect reads.
    pub snapshot_modified_at: fn(&Value) -> Option<Timestamp>,
    pub payment: CheckoutPayment,
}

/// The payment a checkout reports.
#[derive(Clone, Debug)]
pub struct CheckoutPayment {
    pub reported: ReportedState,
    /// Minor units of the order's currency.
    pub amount: i64,
    /// Candidates, in order, for the code of one of the tenant's payment methods (any case).
    pub method_codes: Vec<String>,
    pub transaction_ref: Option<String>,
    /// What is kept of the checkout's payment, under `attrs.<source>`.
    pub snapshot: Value,
}

/// What the report left the payment as, and what the status machine made of it. A conflict is an
/// outcome, not an error: it is recorded and the payment flagged for review.
#[derive(Clone, Debug)]
pub struct CheckoutSynced {
    pub payment: Payment,
    pub outcome: Outcome,
}

/// Why a report was refused; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    #[error("the merchant is not one of the tenant's")]
    ForeignMerchant,
    #[error("the order is held in {0}, and an order's currency does not change")]
    Currency(Currency),
    /// Only a hand-made external id can name a payment of another order.
    #[error("the payment's external id names a payment of another order")]
    PaymentOfAnotherOrder,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Ledger {
    /// Keeps a checkout's order and payment and reports the payment's state, in one transaction,
    /// run again on fresh data when a concurrent report changed or created the records first.
    pub async fn sync_checkout(&self, actor: &Actor, update: CheckoutUpdate) -> Result<CheckoutSynced, CheckoutError> {
        let job_actor = actor.clone();
        transact(&*self.store, &actor.tenant_id, Retry::OnConcurrentCreate, move |tx| {
            Box::pin(async move { sync(tx, &job_actor, &update).await })
        })
        .await
    }
}

type Job<T> = JobResult<T, CheckoutError>;

/// The whole report, inside one transaction: nothing is written unless all of it is.
async fn sync(tx: &mut dyn Tx, actor: &Actor, update: &CheckoutUpdate) -> Job<CheckoutSynced> {
    let tenant = tx.tenant(&actor.tenant_id).await?.ok_or(StoreError::NotFound)?;
    if !dialect_settings::owns_merchant(&tenant, update.source, &update.merchant) {
        return Err(Stop::Refused(CheckoutError::ForeignMerchant));
    }
    let (order, payment) = held(tx, &tenant.id, update).await?;
    let reported = update.payment.reported;
    let (steps, payment) = match payment {
        None => (reported.first_steps(), None),
        Some(payment) => match plan(payment.status, payment.refunded_in_full(), reported) {
            Plan::Proceed(steps) => (steps, Some(payment)),
            // A late or contradicting report changes neither the order nor the payment's fields:
            // the machine records it (a stale event, or a conflict that flags the payment for review).
            Plan::Stale(status) => return Ok(take(tx, actor, &payment, Step::Report(status)).await?),
            Plan::Conflict(step) => return Ok(take(tx, actor, &payment, step).await?),
            Plan::Behind => return Ok(CheckoutSynced { payment, outcome: Outcome::Stale }),
        },
    };
    // An order older than the one paystate holds is old news for the order and for the payment's
    // fields alike; the payment's state still goes through the machine.
    let fresh = order.as_ref().is_none_or(|order| !is_older(order, update));
    let order = match order {
        Some(order) if fresh => {
            let patch = order_patch(&order, update);
            apply_order_patch(&mut *tx, actor, order, patch).await?
        }
        Some(order) => order,
        None => open_order(&mut *tx, actor, new_order(update)).await?,
    };
    let payment = match payment {
        Some(payment) if !fresh => payment,
        payment => keep_payment(tx, actor, &tenant, &order, payment, update).await?,
    };
    Ok(run(tx, actor, payment, steps).await?)
}

/// The order and the payment paystate holds for the report, if any, checked against it.
async fn held(tx: &mut dyn Tx, tenant: &TenantId, update: &CheckoutUpdate) -> Job<(Option<Order>, Option<Payment>)> {
    // The payment first, then its own order by id: a payment and its order are committed
    // together, so a concurrent first report is seen whole or not at all (under read committed, an
    // order looked up first could be missed and its payment, committed meanwhile, then found).
    let payment = found(find_payment(&mut *tx, tenant, &update.payment_external_id).await)?;
    let order = match &payment {
        Some(payment) => {
            let order = tx.order(tenant, &payment.order_id).await?.ok_or(StoreError::NotFound)?;
            if order.reference != update.order_reference {
                return Err(Stop::Refused(CheckoutError::PaymentOfAnotherOrder));
            }
            Some(order)
        }
        None => found(find_order(&mut *tx, tenant, &update.order_reference).await)?,
    };
    if let Some(order) = &order
        && order.currency != update.currency
    {
        return Err(Stop::Refused(CheckoutError::Currency(order.currency)));
    }
    Ok((order, payment))
}

/// Whether the report's order is older than the one paystate holds (both saying when they changed).
fn is_older(order: &Order, update: &CheckoutUpdate) -> bool {
    let held = order.attributes.get(update.source.as_str()).and_then(update.snapshot_modified_at);
    matches!((held, update.modified_at), (Some(held), Some(sent)) if sent < held)
}

fn new_order(update: &CheckoutUpdate) -> NewOrder {
    NewOrder {
        reference: update.order_reference.clone(),
        currency: update.currency,
        total_amount: update.total.unwrap_or(0),
        customer: update.customer.clone(),
        attributes: with_snapshot(&Value::Null, update.source, update.order_snapshot.clone()),
    }
}

/// What the report says of a held order: total, customer and the checkout's snapshot.
fn order_patch(order: &Order, update: &CheckoutUpdate) -> OrderPatch {
    OrderPatch {
        total_amount: update.total,
        customer: Some(update.customer.clone()),
        attributes: Some(with_snapshot(&order.attributes, update.source, update.order_snapshot.clone())),
    }
}

/// Creates the reported payment, or keeps what the report says of its fields.
async fn keep_payment(
    tx: &mut dyn Tx,
    actor: &Actor,
    tenant: &Tenant,
    order: &Order,
    payment: Option<Payment>,
    update: &CheckoutUpdate,
) -> StoreResult<Payment> {
    let sent = &update.payment;
    let method_id = method_of(&mut *tx, tenant, &sent.method_codes).await?;
    let Some(payment) = payment else {
        let new = NewPayment {
            external_id: Some(update.payment_external_id.clone()),
            kind: Some(PaymentType::Receipt),
            method_id,
            amount: sent.amount,
            currency: Some(update.currency),
            transaction_ref: sent.transaction_ref.clone(),
            attrs: with_snapshot(&Value::Null, update.source, sent.snapshot.clone()),
            ..NewPayment::default()
        };
        return open_payment(&mut *tx, actor, order, new).await;
    };
    let patch = PaymentPatch {
        amount: Some(sent.amount),
        method_id: method_id.map(Some),
        transaction_ref: sent.transaction_ref.clone().map(Some),
        attrs: Some(with_snapshot(&payment.attrs, update.source, sent.snapshot.clone())),
        // A settled payment's fields change only as an audited correction (before and after).
        correction: payment.is_settled(),
        ..PaymentPatch::default()
    };
    Ok(apply(&mut *tx, actor, &payment, &PaymentCommand::Update(patch), None).await?.0)
}

/// The tenant's payment method whose code is the first of `codes` to match one (any case).
async fn method_of(tx: &mut dyn Tx, tenant: &Tenant, codes: &[String]) -> StoreResult<Option<MethodId>> {
    if codes.is_empty() {
        return Ok(None);
    }
    let methods = tx.methods(&tenant.id).await?;
    Ok(codes.iter().find_map(|code| methods.iter().find(|m| m.code.eq_ignore_ascii_case(code)).map(|m| m.id.clone())))
}

/// `attributes` with the member of `source` set to its snapshot, other members kept.
fn with_snapshot(attributes: &Value, source: Source, snapshot: Value) -> Value {
    let mut map = attributes.as_object().cloned().unwrap_or_default();
    map.insert(source.as_str().into(), snapshot);
    Value::Object(map)
}

/// One step through the machine, answered as the machine judged it (stale, conflict...).
async fn take(tx: &mut dyn Tx, actor: &Actor, payment: &Payment, step: Step) -> StoreResult<CheckoutSynced> {
    let (payment, outcome) = apply(&mut *tx, actor, payment, &step.command(payment), None).await?;
    Ok(CheckoutSynced { payment, outcome })
}

/// The steps in order; the outcome is the first conflict, else whether any step applied.
async fn run(tx: &mut dyn Tx, actor: &Actor, mut payment: Payment, steps: Vec<Step>) -> StoreResult<CheckoutSynced> {
    let mut outcome = Outcome::Unchanged;
    for step in steps {
        let taken = take(&mut *tx, actor, &payment, step).await?;
        payment = taken.payment;
        outcome = match (outcome, taken.outcome) {
            (Outcome::Conflict { .. }, _) => outcome,
            (_, result @ (Outcome::Conflict { .. } | Outcome::Applied)) => result,
            _ => outcome,
        };
    }
    Ok(CheckoutSynced { payment, outcome })
}
