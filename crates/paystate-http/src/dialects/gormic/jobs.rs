//! The transactions behind Gormic's requests.
//!
//! Each request is one store transaction. It locks the order first and then the payments it
//! reads, so that Gormic requests on one order serialize (two refunds can never both take the
//! last of a receipt) and always take their locks in the same order (no deadlock between them).
//! Every rule is checked before the first write, and a refusal rolls the whole transaction back
//! regardless. Status changes go through the ledger's `apply`, i.e. the canonical status machine,
//! so every change is an event of the audit trail.

use super::Refusal;
use super::transformers::{self, Book, Change, Create, Field, Items, Reserved, Status};
use crate::AppState;
use futures::FutureExt;
use futures::future::BoxFuture;
use paystate_domain::payment::{Adjustment, MissingAmount, NewPayment};
use paystate_domain::{
    Actor, DomainError, MethodId, Order, OrderId, Outcome, Payment, PaymentCommand, PaymentId, PaymentMethod,
    PaymentPatch, PaymentStatus, PaymentType, Source, TenantId,
};
use paystate_ledger::{apply, find_order, find_payment, open_payment};
use paystate_store::{PageRequest, PaymentFilter, StoreError, Tx};
use std::sync::{Arc, Mutex};

/// How many times a transaction is retried when a record changed underneath it.
const RETRIES: usize = 5;
/// Payments of an order are read in pages of this size.
const PAGE: u32 = 500;

/// Why a job stopped: a rule of this dialect, or the store (domain refusals included).
enum Failure {
    Refused(Refusal),
    Store(StoreError),
}

impl From<Refusal> for Failure {
    fn from(refusal: Refusal) -> Self {
        Failure::Refused(refusal)
    }
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Self {
        Failure::Store(error)
    }
}

impl From<DomainError> for Failure {
    fn from(error: DomainError) -> Self {
        Failure::Store(error.into())
    }
}

type JobResult<T> = Result<T, Failure>;

/// A status report a job made, counted in the metrics once the job committed.
type Report = (Outcome, PaymentStatus);

/// An order and its live payments after a change, with the tenant's methods they use.
pub struct After {
    order: Order,
    payments: Vec<Payment>,
    methods: Vec<PaymentMethod>,
}

impl After {
    pub fn items(&self) -> Items {
        transformers::items(&self.order, &self.payments, &self.methods)
    }
}

/// Runs `job` in one transaction, again when a record changed concurrently. A refusal travels
/// out of the job beside the store's error, so that the store rolls back whatever the job wrote.
async fn run<I, T, F>(state: &AppState, tenant: &TenantId, input: I, job: F) -> Result<T, Refusal>
where
    I: Clone + Send + 'static,
    T: Send + 'static,
    F: for<'t> Fn(&'t mut dyn Tx, I) -> BoxFuture<'t, JobResult<(T, Vec<Report>)>> + Copy + Send + 'static,
{
    for _ in 0..RETRIES {
        let refusal: Arc<Mutex<Option<Refusal>>> = Arc::default();
        let (slot, input) = (refusal.clone(), input.clone());
        let result = state
            .ledger
            .transaction(tenant, move |tx| {
                async move {
                    job(tx, input).await.map_err(|failure| match failure {
                        Failure::Store(error) => error,
                        Failure::Refused(refused) => {
                            if let Ok(mut slot) = slot.lock() {
                                *slot = Some(refused);
                            }
                            StoreError::Backend("refused by a rule of the gormic dialect".into())
                        }
                    })
                }
                .boxed()
            })
            .await;
        if let Some(refused) = refusal.lock().ok().and_then(|mut slot| slot.take()) {
            return Err(refused);
        }
        match result {
            Ok((value, reports)) => {
                for (outcome, status) in reports {
                    state.metrics.report(Source::Gormic, outcome, status);
                }
                return Ok(value);
            }
            Err(StoreError::VersionConflict) => continue,
            Err(error) => return Err(error.into()),
        }
    }
    Err(Refusal::unavailable())
}

// --- create -------------------------------------------------------------------------------

pub async fn create(state: &AppState, actor: Actor, create: Create) -> Result<PaymentId, Refusal> {
    let tenant = actor.tenant_id.clone();
    run(state, &tenant, (actor, create), create_job).await
}

fn create_job(tx: &mut dyn Tx, (actor, input): (Actor, Create)) -> BoxFuture<'_, JobResult<(PaymentId, Vec<Report>)>> {
    async move {
        let order = match find_order(tx, &actor.tenant_id, &input.order).await {
            Err(StoreError::NotFound) => return Err(Refusal::not_found("order").into()),
            found => found?,
        };
        let source = match &input.source {
            Some(raw) => Some(source_of(tx, &actor, raw, &order).await?),
            None => None,
        };
        let payments = live_payments(tx, &order).await?;
        let book = Book::new(&order, &payments);
        book.open()?;
        let amount = input.amount.minor(order.currency)?;
        let method_id = match &input.method {
            Some(raw) => Some(method_of(tx, &actor, raw, None).await?),
            None => None,
        };
        if input.kind == PaymentType::Refund {
            let source = source
                .as_ref()
                .ok_or_else(|| Refusal::invalid("params.sourcePaymentId", "is required for a refund"))?;
            if source.status != PaymentStatus::Paid {
                return Err(Refusal::invalid(
                    "params.sourcePaymentId",
                    "must name a completed receipt of the same order",
                )
                .into());
            }
            if input.status != Status::Reversed {
                book.refund_fits(source, amount, None)?;
            }
        }
        let reserved = Reserved {
            customer_uid: input.customer_uid,
            progress: input.status == Status::Progress,
            booked: input.kind == PaymentType::Refund && input.status == Status::Complete,
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
            attrs: transformers::stored_attrs(input.attrs, &reserved),
            custom: input.custom,
        };
        let payment = open_payment(tx, &actor, &order, new).await?;
        let mut reports = Vec::new();
        let payment = advance(tx, &actor, payment, input.status, source.as_ref(), &mut reports).await?;
        Ok((payment.id, reports))
    }
    .boxed()
}

// --- update and confirm -------------------------------------------------------------------

pub async fn change(state: &AppState, actor: Actor, uid: String, change: Change) -> Result<After, Refusal> {
    let order_id = order_of(state, &actor, &uid).await?;
    let tenant = actor.tenant_id.clone();
    run(state, &tenant, (actor, order_id, uid, change), change_job).await
}

fn change_job(
    tx: &mut dyn Tx,
    (actor, order_id, uid, change): (Actor, OrderId, String, Change),
) -> BoxFuture<'_, JobResult<(After, Vec<Report>)>> {
    async move {
        let (order, payment) = lock(tx, &actor, &order_id, &uid).await?;
        if payment.deleted_at.is_some() {
            return Err(Refusal::not_found("payment").into());
        }
        if let Some(id) = &change.id
            && id != payment.id.as_str()
            && payment.external_id.as_ref() != Some(id)
        {
            return Err(Refusal::invalid("params.id", "does not name the payment of the path").into());
        }
        if let Some(reference) = &change.order
            && reference != order.id.as_str()
            && reference != &order.reference
        {
            return Err(Refusal::invalid("params.orderId", "is not the payment's order").into());
        }
        // A refund's source receipt is locked too: completing the refund books on it.
        let source = match &payment.source_payment_id {
            Some(id) if payment.kind == PaymentType::Refund => tx.payment(&actor.tenant_id, id).await?,
            _ => None,
        };
        if let Some(raw) = &change.source {
            let named = match find_payment(tx, &actor.tenant_id, raw).await {
                Ok(named) => Some(named.id),
                Err(StoreError::NotFound) => None,
                Err(error) => return Err(error.into()),
            };
            if named.is_none() || named != payment.source_payment_id {
                return Err(Refusal::invalid(
                    "params.sourcePaymentId",
                    "cannot be changed; when given it must be the payment's own source",
                )
                .into());
            }
        }
        let payments = live_payments(tx, &order).await?;
        let book = Book::new(&order, &payments);
        book.open()?;

        // Plan the change of fields; `planned` is the payment as the patch leaves it.
        let mut patch = PaymentPatch { correction: change.correction, ..PaymentPatch::default() };
        let mut planned = payment.clone();
        if let Some(amount) = &change.amount {
            let minor = amount.minor(order.currency)?;
            if minor != payment.amount {
                match (payment.kind, payment.status) {
                    (PaymentType::Refund, PaymentStatus::Paid) => {
                        return Err(Refusal::invalid_status(
                            "the amount of a completed refund is final: it is booked on its source payment",
                        )
                        .into());
                    }
                    (PaymentType::Refund, _) if change.status != Some(Status::Reversed) => {
                        if let Some(source) = &source {
                            book.refund_fits(source, minor, Some(&payment.id))?;
                        }
                    }
                    (PaymentType::Receipt, PaymentStatus::Paid) => {
                        let used = book.used(&payment, None);
                        if minor < used {
                            return Err(Refusal::limit_reached(format!(
                                "refunds and chargebacks of this payment already take {}",
                                transformers::major(order.currency, used)
                            ))
                            .into());
                        }
                    }
                    _ => {}
                }
                patch.amount = Some(minor);
                planned.amount = minor;
            }
        }
        match &change.method {
            Field::Absent => {}
            Field::Null => patch.method_id = Some(None),
            Field::Set(raw) => {
                patch.method_id = Some(Some(method_of(tx, &actor, raw, payment.method_id.as_ref()).await?));
            }
        }
        patch.custom = change.custom;
        patch.transaction_ref = change.transaction_ref.clone().patch();
        patch.invoice_id = change.invoice_id.clone().patch();
        patch.note = change.note.clone().patch();
        let mut reserved = Reserved::of(&payment);
        if let Some(customer) = change.customer_uid.clone().patch() {
            reserved.customer_uid = customer;
        }
        match change.status {
            Some(Status::Pending) => reserved.progress = false,
            Some(Status::Progress) => reserved.progress = true,
            Some(Status::Complete) if payment.kind == PaymentType::Refund && payment.status != PaymentStatus::Paid => {
                reserved.booked = planned.amount > 0;
            }
            _ => {}
        }
        let client = match change.attrs.clone() {
            Field::Absent => transformers::client_attrs(&payment),
            Field::Null => serde_json::Map::new(),
            Field::Set(attrs) => attrs,
        };
        let attrs = transformers::stored_attrs(client, &reserved);
        if attrs != payment.attrs {
            patch.attrs = Some(attrs);
        }

        // Check the status change before anything is written.
        if let Some(target) = change.status {
            match target {
                Status::Complete => book.check_confirm(&planned)?,
                Status::Reversed => book.check_reverse(&payment)?,
                Status::Pending | Status::Progress => book.check_pending(&payment, target)?,
            }
        }

        // Write: the fields (the domain refuses a complete payment without correction), then the status.
        let mut reports = Vec::new();
        let mut current = payment;
        if patch != (PaymentPatch { correction: patch.correction, ..PaymentPatch::default() }) {
            // A voided payment is as final as a reversed one (the domain only guards the latter).
            if !patch.correction && transformers::is_reversed(&current) {
                book.check_update(&current)?;
            }
            current = apply(tx, &actor, &current, &PaymentCommand::Update(patch), None).await?.0;
        }
        if let Some(target) = change.status {
            advance(tx, &actor, current, target, source.as_ref(), &mut reports).await?;
        }
        Ok((after(tx, &actor, order).await?, reports))
    }
    .boxed()
}

// --- delete -------------------------------------------------------------------------------

pub async fn delete(state: &AppState, actor: Actor, uid: String) -> Result<After, Refusal> {
    let order_id = order_of(state, &actor, &uid).await?;
    let tenant = actor.tenant_id.clone();
    run(state, &tenant, (actor, order_id, uid), delete_job).await
}

fn delete_job(
    tx: &mut dyn Tx,
    (actor, order_id, uid): (Actor, OrderId, String),
) -> BoxFuture<'_, JobResult<(After, Vec<Report>)>> {
    async move {
        let (order, payment) = lock(tx, &actor, &order_id, &uid).await?;
        // Deleting a deleted payment again changes nothing and answers the same.
        if payment.deleted_at.is_none() {
            let payments = live_payments(tx, &order).await?;
            Book::new(&order, &payments).check_delete(&payment)?;
            apply(tx, &actor, &payment, &PaymentCommand::Delete, None).await?;
        }
        Ok((after(tx, &actor, order).await?, Vec::new()))
    }
    .boxed()
}

// --- building blocks ----------------------------------------------------------------------

/// The order of the payment a uid names, read before the transaction so that the transaction
/// can lock the order before the payment.
async fn order_of(state: &AppState, actor: &Actor, uid: &str) -> Result<OrderId, Refusal> {
    match state.ledger.payment(&actor.tenant_id, uid).await {
        Ok(payment) => Ok(payment.order_id),
        Err(StoreError::NotFound) => Err(Refusal::not_found("payment")),
        Err(error) => Err(error.into()),
    }
}

/// Locks the order, then the payment the uid names.
async fn lock(tx: &mut dyn Tx, actor: &Actor, order_id: &OrderId, uid: &str) -> JobResult<(Order, Payment)> {
    let order = tx.order(&actor.tenant_id, order_id).await?.ok_or_else(|| Refusal::not_found("payment"))?;
    let payment = match find_payment(tx, &actor.tenant_id, uid).await {
        Err(StoreError::NotFound) => return Err(Refusal::not_found("payment").into()),
        found => found?,
    };
    if payment.order_id != order.id {
        // The uid (an external id) was moved to a payment of another order meanwhile.
        return Err(Refusal::unavailable().into());
    }
    Ok((order, payment))
}

/// The live payments of an order, oldest first.
async fn live_payments(tx: &mut dyn Tx, order: &Order) -> Result<Vec<Payment>, StoreError> {
    let filter = PaymentFilter { order_id: Some(order.id.clone()), ..PaymentFilter::default() };
    let mut payments: Vec<Payment> = Vec::new();
    loop {
        let page = PageRequest { after: payments.last().map(|p| p.id.to_string()), limit: PAGE };
        let batch = tx.payments(&order.tenant_id, &filter, &page).await?;
        let full = batch.len() == PAGE as usize;
        payments.extend(batch);
        if !full {
            return Ok(payments);
        }
    }
}

async fn after(tx: &mut dyn Tx, actor: &Actor, order: Order) -> Result<After, StoreError> {
    let payments = live_payments(tx, &order).await?;
    let methods =
        if payments.iter().any(|p| p.method_id.is_some()) { tx.methods(&actor.tenant_id).await? } else { Vec::new() };
    Ok(After { order, payments, methods })
}

/// The receipt a `sourcePaymentId` names: a live receipt of the same order (locked).
async fn source_of(tx: &mut dyn Tx, actor: &Actor, raw: &str, order: &Order) -> JobResult<Payment> {
    let refused = || Refusal::invalid("params.sourcePaymentId", "must name a completed receipt of the same order");
    let source = match find_payment(tx, &actor.tenant_id, raw).await {
        Err(StoreError::NotFound) => return Err(refused().into()),
        found => found?,
    };
    if source.deleted_at.is_some() || source.order_id != order.id || source.kind != PaymentType::Receipt {
        return Err(refused().into());
    }
    Ok(source)
}

/// The method a `methodId` names, by id or by code. It must be visible, unless it is the one
/// the payment already has.
async fn method_of(tx: &mut dyn Tx, actor: &Actor, raw: &str, current: Option<&MethodId>) -> JobResult<MethodId> {
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
        _ => Err(Refusal::method_not_found(raw).into()),
    }
}

/// Reports `target` through the status machine. A refund that becomes complete is booked on
/// its source receipt (`amount_refunded`), in the same transaction, so every API sees it.
async fn advance(
    tx: &mut dyn Tx,
    actor: &Actor,
    payment: Payment,
    target: Status,
    source: Option<&Payment>,
    reports: &mut Vec<Report>,
) -> JobResult<Payment> {
    let command = PaymentCommand::ReportStatus { status: target.canonical_for(payment.status), paid_at: None };
    let (payment, outcome) = apply(tx, actor, &payment, &command, None).await?;
    reports.push((outcome, payment.status));
    if target == Status::Complete
        && outcome == Outcome::Applied
        && payment.kind == PaymentType::Refund
        && payment.amount > 0
    {
        let unbookable =
            || Refusal::invalid_status("the refund's source payment is not a completed receipt of the order");
        let source = source.ok_or_else(unbookable)?;
        let adjust = PaymentCommand::Adjust {
            kind: Adjustment::Refund,
            amount: Some(payment.amount),
            missing: MissingAmount::Remaining,
        };
        let reason = format!("refund {} completed through gormic", payment.id);
        let (_, booked) = apply(tx, actor, source, &adjust, Some(&reason)).await?;
        if booked != Outcome::Applied {
            return Err(unbookable().into());
        }
    }
    Ok(payment)
}
