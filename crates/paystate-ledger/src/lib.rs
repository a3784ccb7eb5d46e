//! paystate's use cases.
//!
//! Each method of [`Ledger`] is one command or query: it loads what the domain needs inside one
//! store job, lets the pure domain decide, and writes the decision (records and events) in the
//! same transaction. Every API surface, native or vendor dialect, and the CLI go through here.

pub mod audit;
mod checkout;
pub mod jobs;
mod keys;
pub mod once;
mod order_status;
pub mod payment_desk;
mod payment_report;
mod refund_cap;
mod search;
pub mod transact;
mod users;

pub use checkout::{CheckoutError, CheckoutPayment, CheckoutSynced, CheckoutUpdate};
pub(crate) use jobs::{
    RefundCap, apply, apply_as_desk, apply_order_patch, find_order, find_payment, open_order, open_payment,
    open_payment_with,
};
pub use keys::{IssuedKey, KEY_PREFIX};
pub use once::{KEY_TAKEN, KEY_TAKEN_FIELD, Once, is_key_taken, write_once};
pub use order_status::{OrderStatus, OrderStatusError, OrderStatusReported, ReportOrderStatus};
pub use payment_desk::{DeskBook, DeskChange, DeskCreated, DeskPayment, PaymentDeskError};
pub use payment_report::{
    KeptValue, PaymentReadError, PaymentReport, PaymentReportError, PaymentReported, PaymentWithOrder, ReportContext,
};
pub use search::payment_id_bound;
pub use transact::{JobResult, Retry, Stop};
pub use users::{ActiveSession, CreatedUser, IssuedSession, SESSION_ABSOLUTE, SESSION_IDLE, SignIn, session_is_live};

use futures::FutureExt;
use paystate_domain::order::{NewOrder, OrderPatch};
use paystate_domain::payment::NewPayment;
use paystate_domain::{
    Actor, DomainError, EventDraft, EventType, KeyId, MethodId, MethodLocale, Order, OrderState, Outcome, Payment,
    PaymentCommand, PaymentMethod, Source, StoredEvent, Tenant, TenantId, Timestamp,
};
use paystate_store::{
    ApiKeyRecord, EventFilter, OrderFilter, PageRequest, PaymentFilter, Reader, Scope, Store, StoreError, StoreExt,
    StoreResult,
};
use std::collections::BTreeMap;
use std::sync::Arc;

pub use paystate_store::now;

/// How long an API key read from the store is trusted before it is read again. A revocation
/// through this process takes effect at once; through another instance, within this time.
const KEY_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(5);

#[derive(Clone)]
pub struct Ledger {
    store: Arc<dyn Store>,
    /// Recently read API keys, so that a request does not read its key from the database each time.
    keys: Arc<std::sync::Mutex<std::collections::HashMap<KeyId, (ApiKeyRecord, std::time::Instant)>>>,
}

/// A page of a list, with the cursor of the next page.
#[derive(Clone, Debug)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub has_more: bool,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    fn from_overfetch(mut data: Vec<T>, limit: u32, cursor: impl Fn(&T) -> String) -> Self {
        let has_more = data.len() > limit as usize;
        data.truncate(limit as usize);
        let next_cursor = if has_more { data.last().map(cursor) } else { None };
        Page { data, has_more, next_cursor }
    }
}

fn overfetch(page: &PageRequest) -> PageRequest {
    PageRequest { after: page.after.clone(), limit: page.limit + 1 }
}

/// A new payment method.
#[derive(Clone, Debug)]
pub struct NewMethod {
    pub code: String,
    pub locales: BTreeMap<String, MethodLocale>,
    pub visible: bool,
}

/// Changes to a payment method; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct MethodPatch {
    pub locales: Option<BTreeMap<String, MethodLocale>>,
    pub visible: Option<bool>,
}

impl Ledger {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store, keys: Default::default() }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// This ledger over another handle of the same database (a wrapper of its store), sharing
    /// the API key cache, so that a key revoked through either stops working in both at once.
    pub fn with_store(&self, store: Arc<dyn Store>) -> Self {
        Self { store, keys: self.keys.clone() }
    }

    // --- tenants and keys -------------------------------------------------------------------

    /// Creates a tenant and its first admin key; the key's secret is in the answer only.
    pub async fn create_tenant(&self, name: &str) -> StoreResult<(Tenant, IssuedKey)> {
        let name = paystate_domain::tenant::validate_name(name)?;
        let now = now();
        let tenant = Tenant {
            id: TenantId::generate(),
            name,
            settings: serde_json::json!({}),
            created_at: now,
            updated_at: now,
        };
        let (issued, record) = keys::issue(&tenant.id, Scope::Admin, None, None, Some("first admin key".into()), now)?;
        let written = tenant.clone();
        self.store
            .write(move |tx| {
                async move {
                    tx.insert_tenant(&written).await?;
                    tx.insert_api_key(&record).await
                }
                .boxed()
            })
            .await?;
        Ok((tenant, issued))
    }

    /// Issues an API key of `actor`'s tenant and records `api_key.created` (without the secret).
    pub async fn create_key(
        &self,
        actor: &Actor,
        scope: Scope,
        dialect: Option<Source>,
        expires_at: Option<Timestamp>,
        label: Option<String>,
        once: Option<Once<IssuedKey>>,
    ) -> StoreResult<IssuedKey> {
        let now = now();
        if expires_at.is_some_and(|at| at <= now) {
            return Err(DomainError::Invalid { field: "expires_at", message: "must be in the future".into() }.into());
        }
        let tenant = &actor.tenant_id;
        let (issued, record) = keys::issue(tenant, scope, dialect, expires_at, label, now)?;
        let (owner, actor) = (tenant.clone(), actor.clone());
        write_once(&*self.store, tenant, once, move |tx| {
            async move {
                tx.tenant(&owner).await?.ok_or(StoreError::NotFound)?;
                tx.insert_api_key(&record).await?;
                let event = EventDraft::record(EventType::ApiKeyCreated, audit::key(&record), serde_json::Value::Null);
                tx.record(&actor, event);
                Ok(issued)
            }
            .boxed()
        })
        .await
    }

    pub async fn keys(&self, tenant: &TenantId) -> StoreResult<Vec<ApiKeyRecord>> {
        let tenant = tenant.clone();
        self.store.lookup(move |r| async move { r.api_keys(&tenant).await }.boxed()).await
    }

    /// Revokes a key of `actor`'s tenant and records `api_key.revoked`; revoking a revoked key
    /// changes nothing and records nothing.
    pub async fn revoke_key(&self, actor: &Actor, key: &KeyId, once: Option<Once<()>>) -> StoreResult<()> {
        let tenant = &actor.tenant_id;
        let (owner, id, actor) = (tenant.clone(), key.clone(), actor.clone());
        write_once(&*self.store, tenant, once, move |tx| {
            async move {
                // Not found rolls the claim back with the job: the key stays free.
                let before = tx.api_key(&id).await?.filter(|k| k.tenant_id == owner).ok_or(StoreError::NotFound)?;
                let at = now();
                if !tx.revoke_api_key(&owner, &id, at).await? {
                    return Err(StoreError::NotFound);
                }
                if before.revoked_at.is_none() {
                    let revoked = ApiKeyRecord { revoked_at: Some(at), ..before };
                    let event =
                        EventDraft::record(EventType::ApiKeyRevoked, audit::key(&revoked), serde_json::Value::Null);
                    tx.record(&actor, event);
                }
                Ok(())
            }
            .boxed()
        })
        .await?;
        // Forget the key only once the revocation is committed, so no request re-caches it as active.
        if let Ok(mut cache) = self.keys.lock() {
            cache.remove(key);
        }
        Ok(())
    }

    /// The active key a presented secret belongs to; `None` for an unknown, wrong, revoked or
    /// expired one alike, so that callers answer all of them the same way.
    pub async fn authenticate(&self, presented: &str) -> StoreResult<Option<ApiKeyRecord>> {
        let Some(key_id) = keys::key_id_of(presented) else { return Ok(None) };
        let cached = self.keys.lock().ok().and_then(|cache| {
            cache
                .get(&key_id)
                .filter(|(_, read_at)| read_at.elapsed() < KEY_CACHE_TTL)
                .map(|(record, _)| record.clone())
        });
        let record = match cached {
            Some(record) => Some(record),
            None => {
                let id = key_id.clone();
                let record = self.store.lookup(move |r| async move { r.api_key(&id).await }.boxed()).await?;
                if let (Some(record), Ok(mut cache)) = (&record, self.keys.lock()) {
                    if cache.len() > 10_000 {
                        cache.clear();
                    }
                    cache.insert(key_id, (record.clone(), std::time::Instant::now()));
                }
                record
            }
        };
        Ok(record.filter(|record| keys::matches(record, presented) && record.is_active(now())))
    }

    pub async fn tenant(&self, id: &TenantId) -> StoreResult<Tenant> {
        let id = id.clone();
        self.store.lookup(move |r| async move { r.tenant(&id).await }.boxed()).await?.ok_or(StoreError::NotFound)
    }

    /// Applies an RFC 7396 merge patch to the name and settings of `actor`'s tenant and records
    /// `tenant.updated` with both before and after, when anything changed.
    /// `check` vets the merged result (the dialects' settings) before it is written.
    pub async fn patch_tenant(
        &self,
        actor: &Actor,
        patch: serde_json::Value,
        check: impl Fn(&Tenant) -> Result<(), DomainError> + Send + 'static,
        once: Option<Once<Tenant>>,
    ) -> StoreResult<Tenant> {
        let id = &actor.tenant_id;
        let (owner, actor) = (id.clone(), actor.clone());
        write_once(&*self.store, id, once, move |tx| {
            async move {
                let before = tx.tenant(&owner).await?.ok_or(StoreError::NotFound)?;
                let mut tenant = before.clone();
                tenant.apply_merge_patch(&patch, now())?;
                check(&tenant)?;
                tx.update_tenant(&tenant).await?;
                if (&tenant.name, &tenant.settings) != (&before.name, &before.settings) {
                    let detail = serde_json::json!({
                        "before": { "name": before.name, "settings": before.settings },
                        "after": { "name": tenant.name, "settings": tenant.settings },
                    });
                    tx.record(&actor, EventDraft::tenant(EventType::TenantUpdated, &tenant, detail));
                }
                Ok(tenant)
            }
            .boxed()
        })
        .await
    }

    // --- orders -------------------------------------------------------------------------------

    pub async fn create_order(&self, actor: &Actor, new: NewOrder, once: Option<Once<Order>>) -> StoreResult<Order> {
        let job_actor = actor.clone();
        write_once(&*self.store, &actor.tenant_id, once, move |tx| {
            async move { open_order(tx, &job_actor, new).await }.boxed()
        })
        .await
    }

    /// An order by its id or its reference.
    pub async fn order(&self, tenant: &TenantId, id_or_reference: &str) -> StoreResult<Order> {
        let (tenant, key) = (tenant.clone(), id_or_reference.to_owned());
        self.store.lookup(move |r| async move { find_order(r, &tenant, &key).await }.boxed()).await
    }

    pub async fn orders(&self, tenant: &TenantId, filter: OrderFilter, page: PageRequest) -> StoreResult<Page<Order>> {
        let tenant = tenant.clone();
        let fetch = overfetch(&page);
        let data = self.store.lookup(move |r| async move { r.orders(&tenant, &filter, &fetch).await }.boxed()).await?;
        Ok(Page::from_overfetch(data, page.limit, |o| o.id.to_string()))
    }

    /// Moves an order to a state; answers the order and whether it changed.
    pub async fn set_order_state(
        &self,
        actor: &Actor,
        id_or_reference: &str,
        state: OrderState,
        once: Option<Once<(Order, bool)>>,
    ) -> StoreResult<(Order, bool)> {
        let (lane, actor, key) = (actor.tenant_id.clone(), actor.clone(), id_or_reference.to_owned());
        write_once(&*self.store, &lane, once, move |tx| {
            async move {
                let order = find_order(tx, &actor.tenant_id, &key).await?;
                match order.change_state(state, &actor, now())? {
                    Some((next, event)) => {
                        tx.update_order(&next).await?;
                        tx.record(&actor, event);
                        Ok((next, true))
                    }
                    None => Ok((order, false)),
                }
            }
            .boxed()
        })
        .await
    }

    pub async fn patch_order(
        &self,
        actor: &Actor,
        id_or_reference: &str,
        patch: OrderPatch,
        once: Option<Once<Order>>,
    ) -> StoreResult<Order> {
        let (lane, actor, key) = (actor.tenant_id.clone(), actor.clone(), id_or_reference.to_owned());
        write_once(&*self.store, &lane, once, move |tx| {
            async move {
                let order = find_order(tx, &actor.tenant_id, &key).await?;
                apply_order_patch(tx, &actor, order, patch).await
            }
            .boxed()
        })
        .await
    }

    // --- payments -----------------------------------------------------------------------------

    /// Creates a payment of an order (by id or reference).
    pub async fn create_payment(
        &self,
        actor: &Actor,
        order: &str,
        new: NewPayment,
        once: Option<Once<Payment>>,
    ) -> StoreResult<Payment> {
        let (lane, actor, order) = (actor.tenant_id.clone(), actor.clone(), order.to_owned());
        write_once(&*self.store, &lane, once, move |tx| {
            async move {
                let order = find_order(tx, &actor.tenant_id, &order).await?;
                open_payment(tx, &actor, &order, new).await
            }
            .boxed()
        })
        .await
    }

    /// A payment by its id or its external id.
    pub async fn payment(&self, tenant: &TenantId, id_or_external: &str) -> StoreResult<Payment> {
        let (tenant, key) = (tenant.clone(), id_or_external.to_owned());
        self.store.lookup(move |r| async move { find_payment(r, &tenant, &key).await }.boxed()).await
    }

    pub async fn payments(
        &self,
        tenant: &TenantId,
        filter: PaymentFilter,
        page: PageRequest,
    ) -> StoreResult<Page<Payment>> {
        let tenant = tenant.clone();
        let fetch = overfetch(&page);
        let data =
            self.store.lookup(move |r| async move { r.payments(&tenant, &filter, &fetch).await }.boxed()).await?;
        Ok(Page::from_overfetch(data, page.limit, |p| p.id.to_string()))
    }

    /// Runs a command against a payment (by id or external id) through the status machine.
    /// The `reason`, when given, is kept in the detail of every event the command records.
    pub async fn command(
        &self,
        actor: &Actor,
        id_or_external: &str,
        command: PaymentCommand,
        reason: Option<String>,
        once: Option<Once<(Payment, Outcome)>>,
    ) -> StoreResult<(Payment, Outcome)> {
        let lane = actor.tenant_id.clone();
        transact::retrying(Retry::OnVersionConflict, || {
            let (actor, key, command, reason) =
                (actor.clone(), id_or_external.to_owned(), command.clone(), reason.clone());
            write_once(&*self.store, &lane, once.clone(), move |tx| {
                async move {
                    let payment = find_payment(tx, &actor.tenant_id, &key).await?;
                    apply(tx, &actor, &payment, &command, reason.as_deref()).await
                }
                .boxed()
            })
        })
        .await
    }

    /// Runs a read job of the caller's own on a consistent snapshot: for pages that compose
    /// several reads (the console's). Every write goes through a use case of the ledger.
    pub async fn query<T, F>(&self, job: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'t> FnOnce(&'t mut dyn Reader) -> futures::future::BoxFuture<'t, StoreResult<T>> + Send + 'static,
    {
        self.store.read(job).await
    }

    // --- payment methods ----------------------------------------------------------------------

    pub async fn create_method(
        &self,
        actor: &Actor,
        new: NewMethod,
        once: Option<Once<PaymentMethod>>,
    ) -> StoreResult<PaymentMethod> {
        let code = paystate_domain::order::validate_reference("code", &new.code)?;
        paystate_domain::method::validate_locales(&new.locales)?;
        let now = now();
        let method = PaymentMethod {
            id: MethodId::generate(),
            tenant_id: actor.tenant_id.clone(),
            code,
            locales: new.locales,
            visible: new.visible,
            created_at: now,
            created_by: actor.name(),
            created_via: actor.source,
            updated_at: now,
            updated_by: actor.name(),
            updated_via: actor.source,
        };
        write_once(&*self.store, &actor.tenant_id, once, move |tx| {
            async move {
                tx.insert_method(&method).await?;
                Ok(method)
            }
            .boxed()
        })
        .await
    }

    pub async fn update_method(
        &self,
        actor: &Actor,
        id: &MethodId,
        patch: MethodPatch,
        once: Option<Once<PaymentMethod>>,
    ) -> StoreResult<PaymentMethod> {
        if let Some(locales) = &patch.locales {
            paystate_domain::method::validate_locales(locales)?;
        }
        let (lane, actor, id) = (actor.tenant_id.clone(), actor.clone(), id.clone());
        write_once(&*self.store, &lane, once, move |tx| {
            async move {
                let mut method = tx.method(&actor.tenant_id, &id).await?.ok_or(StoreError::NotFound)?;
                if let Some(locales) = patch.locales {
                    method.locales = locales;
                }
                if let Some(visible) = patch.visible {
                    method.visible = visible;
                }
                method.updated_at = now();
                method.updated_by = actor.name();
                method.updated_via = actor.source;
                tx.update_method(&method).await?;
                Ok(method)
            }
            .boxed()
        })
        .await
    }

    pub async fn method(&self, tenant: &TenantId, id: &MethodId) -> StoreResult<PaymentMethod> {
        let (tenant, id) = (tenant.clone(), id.clone());
        self.store
            .lookup(move |r| async move { r.method(&tenant, &id).await }.boxed())
            .await?
            .ok_or(StoreError::NotFound)
    }

    pub async fn methods(&self, tenant: &TenantId) -> StoreResult<Vec<PaymentMethod>> {
        let tenant = tenant.clone();
        self.store.lookup(move |r| async move { r.methods(&tenant).await }.boxed()).await
    }

    // --- events -------------------------------------------------------------------------------

    pub async fn events(&self, tenant: &TenantId, filter: EventFilter) -> StoreResult<Vec<StoredEvent>> {
        let tenant = tenant.clone();
        self.store.lookup(move |r| async move { r.events(&tenant, &filter).await }.boxed()).await
    }

    /// The events of one payment (by id or external id), oldest first.
    pub async fn payment_events(
        &self,
        tenant: &TenantId,
        id_or_external: &str,
        after_seq: i64,
        limit: u32,
    ) -> StoreResult<Vec<StoredEvent>> {
        let (tenant, key) = (tenant.clone(), id_or_external.to_owned());
        self.store
            .read(move |r| {
                async move {
                    let payment = find_payment(r, &tenant, &key).await?;
                    let filter = EventFilter { after_seq, payment_id: Some(payment.id), limit };
                    r.events(&tenant, &filter).await
                }
                .boxed()
            })
            .await
    }
}
