//! The use case "report a status for one payment named by its id or external id, after checking
//! the report against the payment, its order and its tenant", and the read "a payment with its
//! order".
//!
//! A reporter (a shop's plugin speaking a vendor dialect) names a payment and says what became of
//! it. Some reporters carry consistency checks of their own that need the payment and its order
//! (a hash of the order's reference, the payment the body names): the caller passes them as a
//! pure function, and the job runs it on what it read, under the payment's lock, so that nothing
//! it checked can change before the write. A reporter may also ask to keep one value with the
//! payment (`attrs.<section>.<key>`), written in the same transaction before the status.

use crate::transact::{JobResult, Retry, Stop, transact};
use crate::{Ledger, apply, find_payment};
use futures::FutureExt;
use paystate_domain::{Actor, DomainError, Order, Outcome, Payment, PaymentCommand, PaymentPatch, Tenant, TenantId};
use paystate_store::{StoreError, StoreExt, Tx};
use serde_json::{Map, Value};

/// A status report for one payment.
#[derive(Clone, Debug)]
pub struct PaymentReport {
    /// The payment, by its id or its external id.
    pub payment: String,
    /// A value the reporter keeps with the payment, written before `command`.
    pub keep: Option<KeptValue>,
    /// What the report asks of the status machine.
    pub command: PaymentCommand,
}

/// A value kept in a payment's `attrs` under `attrs.<section>.<key>`, the section's other members
/// left as they are.
#[derive(Clone, Debug, PartialEq)]
pub struct KeptValue {
    pub section: String,
    pub key: String,
    pub value: Value,
}

/// What the reporter's check sees: everything the job read, as it stands under the payment's lock.
#[derive(Clone, Copy, Debug)]
pub struct ReportContext<'a> {
    pub tenant: &'a Tenant,
    pub order: &'a Order,
    pub payment: &'a Payment,
}

/// An accepted report: the payment as it now is, and what the status machine made of it.
#[derive(Clone, Debug)]
pub struct PaymentReported {
    pub payment: Payment,
    pub outcome: Outcome,
}

/// Why a report was not applied. `R` is the reporter's own refusal, returned as its check gave it.
#[derive(Debug, thiserror::Error)]
pub enum PaymentReportError<R> {
    /// No payment of this tenant has this id or external id.
    #[error("no such payment")]
    NotFound,
    /// The reporter's check refused the report; nothing was written.
    #[error("the report was refused by its reporter's check")]
    Refused(R),
    /// The status machine or a field's rule refused the command.
    #[error(transparent)]
    Domain(DomainError),
    #[error(transparent)]
    Store(StoreError),
}

impl<R> From<StoreError> for PaymentReportError<R> {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => Self::NotFound,
            StoreError::Domain(error) => Self::Domain(error),
            other => Self::Store(other),
        }
    }
}

/// A payment with the order it belongs to.
#[derive(Clone, Debug)]
pub struct PaymentWithOrder {
    pub payment: Payment,
    pub order: Order,
}

/// Why a payment could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PaymentReadError {
    /// No payment of this tenant has this id or external id.
    #[error("no such payment")]
    NotFound,
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for PaymentReadError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => Self::NotFound,
            other => Self::Store(other),
        }
    }
}

impl Ledger {
    /// Reports a status for the payment `report` names, in one transaction: reads the payment
    /// (locking it), its tenant and its order, lets `check` vet the report against them, keeps
    /// `report.keep`, and runs `report.command` through the status machine. A payment that changed
    /// meanwhile runs the whole job again, `check` included, on what is there now.
    pub async fn report_payment<R, F>(
        &self,
        actor: &Actor,
        report: PaymentReport,
        check: F,
    ) -> Result<PaymentReported, PaymentReportError<R>>
    where
        R: Send + Sync + 'static,
        F: Fn(ReportContext<'_>) -> Result<(), R> + Clone + Send + Sync + 'static,
    {
        let actor = actor.clone();
        let tenant = actor.tenant_id.clone();
        transact(&*self.store, &tenant, Retry::OnVersionConflict, move |tx| {
            async move { report_job(tx, &actor, &report, check).await }.boxed()
        })
        .await
    }

    /// A payment (by id or external id) with its order, read on one consistent snapshot.
    pub async fn payment_with_order(
        &self,
        tenant: &TenantId,
        id_or_external: &str,
    ) -> Result<PaymentWithOrder, PaymentReadError> {
        let (tenant, key) = (tenant.clone(), id_or_external.to_owned());
        let read = self
            .store
            .read(move |reader| {
                async move {
                    let payment = find_payment(reader, &tenant, &key).await?;
                    let order = reader.order(&tenant, &payment.order_id).await?.ok_or(StoreError::NotFound)?;
                    Ok(PaymentWithOrder { payment, order })
                }
                .boxed()
            })
            .await?;
        Ok(read)
    }
}

/// One attempt of [`Ledger::report_payment`].
async fn report_job<R, F>(
    tx: &mut dyn Tx,
    actor: &Actor,
    report: &PaymentReport,
    check: F,
) -> JobResult<PaymentReported, PaymentReportError<R>>
where
    F: Fn(ReportContext<'_>) -> Result<(), R>,
{
    let tenant_id = &actor.tenant_id;
    let payment = find_payment(tx, tenant_id, &report.payment).await?;
    let tenant = tx.tenant(tenant_id).await?.ok_or(StoreError::NotFound)?;
    let order = tx.order(tenant_id, &payment.order_id).await?.ok_or(StoreError::NotFound)?;
    // The reporter's check runs here, on what this job read (the payment locked until commit),
    // rather than before the transaction: what it vetted is what the command is decided on.
    check(ReportContext { tenant: &tenant, order: &order, payment: &payment })
        .map_err(|refusal| Stop::Refused(PaymentReportError::Refused(refusal)))?;
    // Kept first, so that a payment not yet settled takes the value without a correction.
    let payment = match keep_command(&payment, report.keep.as_ref()) {
        Some(command) => apply(tx, actor, &payment, &command, None).await?.0,
        None => payment,
    };
    let (payment, outcome) = apply(tx, actor, &payment, &report.command, None).await?;
    Ok(PaymentReported { payment, outcome })
}

/// The change that keeps `kept` in the payment's `attrs`; `None` when it already holds it. A
/// settled payment's fields change only as an audited correction, whoever changes them.
fn keep_command(payment: &Payment, kept: Option<&KeptValue>) -> Option<PaymentCommand> {
    let attrs = attrs_keeping(&payment.attrs, kept?)?;
    Some(PaymentCommand::Update(PaymentPatch {
        attrs: Some(attrs),
        correction: payment.is_settled(),
        ..PaymentPatch::default()
    }))
}

/// `attrs` with `kept` in its section, the other members (and the section's) as they are; `None`
/// when `attrs` already holds it. Attrs that are no object, or a section that is none, are
/// replaced rather than refused: they hold nothing a key could be kept beside.
fn attrs_keeping(attrs: &Value, kept: &KeptValue) -> Option<Value> {
    if attrs.get(&kept.section).and_then(|section| section.get(&kept.key)) == Some(&kept.value) {
        return None;
    }
    let mut attrs = attrs.as_object().cloned().unwrap_or_default();
    let mut section = match attrs.remove(&kept.section) {
        Some(Value::Object(section)) => section,
        _ => Map::new(),
    };
    section.insert(kept.key.clone(), kept.value.clone());
    attrs.insert(kept.section.clone(), Value::Object(section));
    Some(Value::Object(attrs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn seed(value: &str) -> KeptValue {
        KeptValue { section: "teljoy".into(), key: "trust_seed".into(), value: value.into() }
    }

    #[test]
    fn a_kept_value_joins_the_other_attrs_and_only_a_new_one_changes_them() {
        let attrs = attrs_keeping(&json!({"till": 3}), &seed("W10=")).unwrap();
        assert_eq!(attrs, json!({"till": 3, "teljoy": {"trust_seed": "W10="}}));
        assert_eq!(attrs_keeping(&attrs, &seed("W10=")), None, "already kept");
        let attrs = json!({"till": 3, "teljoy": {"trust_seed": "W10=", "other": 1}});
        assert_eq!(attrs_keeping(&attrs, &seed("e30=")).unwrap()["teljoy"], json!({"trust_seed": "e30=", "other": 1}));
        assert_eq!(attrs_keeping(&json!(null), &seed("x")).unwrap(), json!({"teljoy": {"trust_seed": "x"}}));
        assert_eq!(attrs_keeping(&json!({"teljoy": 5}), &seed("x")).unwrap(), json!({"teljoy": {"trust_seed": "x"}}));
    }
}
