//! The console's payment search: filters the native list does not have (currency, the source
//! that created a payment, a creation range), answered in cursor pages.

use crate::{Ledger, Page, overfetch};
use futures::FutureExt;
use paystate_domain::{Payment, PaymentId, TenantId, Timestamp};
use paystate_store::{PageRequest, PaymentSearch, StoreExt, StoreResult};

/// A bound between the payment ids made before `at` and those made at or after it: ids are
/// UUIDv7, whose first 48 bits are the creation time in Unix milliseconds, so this prefix is
/// above every earlier id and below every later one (each is the prefix and 20 more digits).
pub fn payment_id_bound(at: Timestamp) -> String {
    let millis = u64::try_from(at.timestamp_millis()).unwrap_or(0).min((1 << 48) - 1);
    format!("{}{millis:012x}", PaymentId::PREFIX)
}

impl Ledger {
    pub async fn search_payments(
        &self,
        tenant: &TenantId,
        search: PaymentSearch,
        page: PageRequest,
    ) -> StoreResult<Page<Payment>> {
        let tenant = tenant.clone();
        let fetch = overfetch(&page);
        let data = self
            .store()
            .lookup(move |r| async move { r.payments_matching(&tenant, &search, &fetch).await }.boxed())
            .await?;
        Ok(Page::from_overfetch(data, page.limit, |p| p.id.to_string()))
    }

    /// The tenant's live payments whose transaction reference (the PSP's id) is exactly
    /// `reference`, at most `limit`, oldest first.
    pub async fn payments_by_transaction_ref(
        &self,
        tenant: &TenantId,
        reference: &str,
        limit: u32,
    ) -> StoreResult<Vec<Payment>> {
        let (tenant, reference) = (tenant.clone(), reference.to_owned());
        self.store()
            .lookup(move |r| async move { r.payments_by_transaction_ref(&tenant, &reference, limit).await }.boxed())
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_bounds_the_ids_made_at_it() {
        let before = crate::now();
        let id = PaymentId::generate();
        let after = crate::now() + chrono::Duration::milliseconds(2);
        assert!(payment_id_bound(before).as_str() < id.as_str());
        assert!(payment_id_bound(after).as_str() > id.as_str());
    }
}
