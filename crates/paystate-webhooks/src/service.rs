//! Managing webhooks: endpoints and their secrets, the delivery log, manual retries and tests.
//!
//! Every method is one tenant's: an id of another tenant answers not found. A secret is
//! generated here, sealed before it reaches the store, and returned in clear only to the caller
//! that created or rotated it.

use crate::WebhookResult;
use crate::sealing::SealingKey;
use crate::signing::SigningSecret;
use crate::ssrf::validate_url;
use futures::FutureExt;
use paystate_domain::webhook::validate_description;
use paystate_domain::{
    Actor, DeliveryId, DomainError, EndpointId, EventDraft, EventId, EventSelection, EventType, TenantId, Timestamp,
    WebhookEndpoint,
};
use paystate_ledger::{Once, Page, write_once};
use paystate_store::{
    AttemptRecord, DeliveryFilter, DeliveryRecord, EndpointRecord, PageRequest, Store, StoreError, StoreExt,
};
use serde_json::{Value, json};
use std::sync::Arc;

/// The event type of a test message; it goes only to the endpoint it tests.
pub const TEST_EVENT_TYPE: &str = "webhook.test";

/// The longest grace period a rotation may give the old secret.
pub const MAX_GRACE: chrono::TimeDelta = chrono::TimeDelta::days(7);

/// The default grace period of a rotation.
pub const DEFAULT_GRACE: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// A new endpoint.
#[derive(Clone, Debug)]
pub struct NewEndpoint {
    pub url: String,
    /// Event types, or `["*"]` for all.
    pub events: Vec<String>,
    pub description: Option<String>,
    pub enabled: bool,
}

/// Changes to an endpoint; `None` leaves a field as it is (`Some(None)` clears the description).
#[derive(Clone, Debug, Default)]
pub struct EndpointPatch {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub description: Option<Option<String>>,
    pub enabled: Option<bool>,
}

/// An endpoint with a freshly issued secret: the only time the secret is seen.
#[derive(Clone, Debug)]
pub struct IssuedSecret {
    pub endpoint: WebhookEndpoint,
    pub secret: SigningSecret,
    /// Until when the previous secret still signs (after a rotation with a grace period).
    pub previous_expires_at: Option<Timestamp>,
}

/// A delivery with its attempts.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub record: DeliveryRecord,
    pub attempts: Vec<AttemptRecord>,
}

/// The webhook use cases; cheap to clone.
#[derive(Clone)]
pub struct Webhooks {
    store: Arc<dyn Store>,
    sealing: SealingKey,
    allow_private_networks: bool,
}

impl Webhooks {
    pub fn new(store: Arc<dyn Store>, sealing: SealingKey, allow_private_networks: bool) -> Self {
        Self { store, sealing, allow_private_networks }
    }

    pub fn sealing_key(&self) -> &SealingKey {
        &self.sealing
    }

    fn check_url(&self, url: &str) -> WebhookResult<String> {
        Ok(validate_url(url.trim(), self.allow_private_networks)?.to_string())
    }

    fn seal(&self, secret: &SigningSecret, endpoint: &EndpointId) -> WebhookResult<Vec<u8>> {
        Ok(self.sealing.seal(secret.bytes(), endpoint.as_str())?)
    }

    /// Creates an endpoint of `actor`'s tenant with a new secret and records
    /// `webhook_endpoint.created` (the endpoint, never its secret).
    pub async fn create(
        &self,
        actor: &Actor,
        new: NewEndpoint,
        once: Option<Once<IssuedSecret>>,
    ) -> WebhookResult<IssuedSecret> {
        let tenant = &actor.tenant_id;
        let url = self.check_url(&new.url)?;
        let events = EventSelection::parse(new.events)?;
        let description = new.description.as_deref().map(validate_description).transpose()?;
        let now = paystate_store::now();
        let endpoint = WebhookEndpoint {
            id: EndpointId::generate(),
            tenant_id: tenant.clone(),
            url,
            events,
            description,
            enabled: new.enabled,
            disabled_reason: None,
            disabled_at: (!new.enabled).then_some(now),
            failing_since: None,
            created_at: now,
            updated_at: now,
        };
        let secret = SigningSecret::generate()?;
        let record = EndpointRecord {
            secret: self.seal(&secret, &endpoint.id)?,
            endpoint: endpoint.clone(),
            previous_secret: None,
            previous_expires_at: None,
        };
        let (owner, actor) = (tenant.clone(), actor.clone());
        let issued = IssuedSecret { endpoint, secret, previous_expires_at: None };
        let issued = write_once(&*self.store, tenant, once, move |tx| {
            async move {
                tx.tenant(&owner).await?.ok_or(StoreError::NotFound)?;
                tx.insert_endpoint(&record).await?;
                let event = EventDraft::endpoint(EventType::WebhookEndpointCreated, &record.endpoint, Value::Null);
                tx.record(&actor, event);
                Ok(issued)
            }
            .boxed()
        })
        .await?;
        Ok(issued)
    }

    pub async fn endpoints(&self, tenant: &TenantId, page: PageRequest) -> WebhookResult<Page<WebhookEndpoint>> {
        let (tenant, fetch) = (tenant.clone(), PageRequest { after: page.after.clone(), limit: page.limit + 1 });
        let mut data: Vec<WebhookEndpoint> = self
            .store
            .read(move |r| async move { r.endpoints(&tenant, &fetch).await }.boxed())
            .await?
            .into_iter()
            .map(|record| record.endpoint)
            .collect();
        Ok(page_of(&mut data, page.limit, |e| e.id.to_string()))
    }

    pub async fn endpoint(&self, tenant: &TenantId, id: &EndpointId) -> WebhookResult<WebhookEndpoint> {
        let (tenant, id) = (tenant.clone(), id.clone());
        let record = self.store.read(move |r| async move { r.endpoint(&tenant, &id).await }.boxed()).await?;
        Ok(record.ok_or(StoreError::NotFound)?.endpoint)
    }

    /// Changes an endpoint of `actor`'s tenant and records `webhook_endpoint.updated` with the
    /// endpoint before the change, when anything changed.
    pub async fn update(
        &self,
        actor: &Actor,
        id: &EndpointId,
        patch: EndpointPatch,
        once: Option<Once<WebhookEndpoint>>,
    ) -> WebhookResult<WebhookEndpoint> {
        let tenant = &actor.tenant_id;
        let url = patch.url.as_deref().map(|url| self.check_url(url)).transpose()?;
        let events = patch.events.map(EventSelection::parse).transpose()?;
        let description = match patch.description {
            Some(Some(text)) => Some(Some(validate_description(&text)?)),
            other => other,
        };
        let (owner, id, enabled, actor) = (tenant.clone(), id.clone(), patch.enabled, actor.clone());
        let updated = write_once(&*self.store, tenant, once, move |tx| {
            async move {
                let mut record = tx.endpoint(&owner, &id).await?.ok_or(StoreError::NotFound)?;
                let before = record.endpoint.clone();
                let now = paystate_store::now();
                let endpoint = &mut record.endpoint;
                if let Some(url) = url {
                    endpoint.url = url;
                }
                if let Some(events) = events {
                    endpoint.events = events;
                }
                if let Some(description) = description {
                    endpoint.description = description;
                }
                if let Some(enabled) = enabled {
                    endpoint.set_enabled(enabled, now);
                }
                endpoint.updated_at = now;
                tx.update_endpoint(&record).await?;
                let unchanged = WebhookEndpoint { updated_at: before.updated_at, ..record.endpoint.clone() } == before;
                if !unchanged {
                    let change = match (before.enabled, record.endpoint.enabled) {
                        (true, false) => "disabled",
                        (false, true) => "enabled",
                        _ => "edited",
                    };
                    let detail = json!({ "change": change, "before": before });
                    tx.record(
                        &actor,
                        EventDraft::endpoint(EventType::WebhookEndpointUpdated, &record.endpoint, detail),
                    );
                }
                Ok(record.endpoint)
            }
            .boxed()
        })
        .await?;
        Ok(updated)
    }

    /// Deletes the endpoint, its pending deliveries and its delivery log, and records
    /// `webhook_endpoint.deleted` with the endpoint as it was.
    pub async fn delete(&self, actor: &Actor, id: &EndpointId, once: Option<Once<()>>) -> WebhookResult<()> {
        let tenant = &actor.tenant_id;
        let (owner, id, actor) = (tenant.clone(), id.clone(), actor.clone());
        write_once(&*self.store, tenant, once, move |tx| {
            async move {
                let record = tx.endpoint(&owner, &id).await?.ok_or(StoreError::NotFound)?;
                if !tx.delete_endpoint(&owner, &id).await? {
                    return Err(StoreError::NotFound);
                }
                tx.record(
                    &actor,
                    EventDraft::endpoint(EventType::WebhookEndpointDeleted, &record.endpoint, Value::Null),
                );
                Ok(())
            }
            .boxed()
        })
        .await?;
        Ok(())
    }

    /// Issues a new secret. The current one keeps signing for `grace` (zero: it stops at once),
    /// replacing any older secret still in its grace period.
    /// Records `webhook_endpoint.updated` (the change `rotated`; never a secret).
    pub async fn rotate(
        &self,
        actor: &Actor,
        id: &EndpointId,
        grace: chrono::TimeDelta,
        once: Option<Once<IssuedSecret>>,
    ) -> WebhookResult<IssuedSecret> {
        if grace < chrono::TimeDelta::zero() || grace > MAX_GRACE {
            return Err(DomainError::Invalid {
                field: "grace_period_seconds",
                message: format!("must be between 0 and {}", MAX_GRACE.num_seconds()),
            }
            .into());
        }
        let tenant = &actor.tenant_id;
        let secret = SigningSecret::generate()?;
        let sealed = self.seal(&secret, id)?;
        let (owner, id, actor) = (tenant.clone(), id.clone(), actor.clone());
        let issued = write_once(&*self.store, tenant, once, move |tx| {
            async move {
                let mut record = tx.endpoint(&owner, &id).await?.ok_or(StoreError::NotFound)?;
                let now = paystate_store::now();
                let current = std::mem::replace(&mut record.secret, sealed);
                if grace > chrono::TimeDelta::zero() {
                    record.previous_secret = Some(current);
                    record.previous_expires_at = Some(now + grace);
                } else {
                    record.previous_secret = None;
                    record.previous_expires_at = None;
                }
                let before = record.endpoint.clone();
                record.endpoint.updated_at = now;
                tx.update_endpoint(&record).await?;
                let detail = json!({
                    "change": "rotated",
                    "before": before,
                    "grace_period_seconds": grace.num_seconds(),
                    "previous_expires_at": record.previous_expires_at,
                });
                tx.record(&actor, EventDraft::endpoint(EventType::WebhookEndpointUpdated, &record.endpoint, detail));
                Ok(IssuedSecret { endpoint: record.endpoint, secret, previous_expires_at: record.previous_expires_at })
            }
            .boxed()
        })
        .await?;
        Ok(issued)
    }

    /// A page of deliveries, each with its attempts.
    pub async fn deliveries(
        &self,
        tenant: &TenantId,
        filter: DeliveryFilter,
        page: PageRequest,
    ) -> WebhookResult<Page<Delivery>> {
        let (tenant, fetch) = (tenant.clone(), PageRequest { after: page.after.clone(), limit: page.limit + 1 });
        let endpoint = filter.endpoint_id.clone();
        let (mut records, attempts) = self
            .store
            .read(move |r| {
                async move {
                    if let Some(endpoint) = &endpoint {
                        r.endpoint(&tenant, endpoint).await?.ok_or(StoreError::NotFound)?;
                    }
                    let records = r.deliveries(&tenant, &filter, &fetch).await?;
                    let ids: Vec<DeliveryId> = records.iter().map(|d| d.id.clone()).collect();
                    let attempts = r.delivery_attempts(&tenant, &ids).await?;
                    Ok((records, attempts))
                }
                .boxed()
            })
            .await?;
        let page = page_of(&mut records, page.limit, |d| d.id.to_string());
        Ok(Page {
            data: page.data.into_iter().map(|record| with_attempts(record, &attempts)).collect(),
            has_more: page.has_more,
            next_cursor: page.next_cursor,
        })
    }

    pub async fn delivery(&self, tenant: &TenantId, id: &DeliveryId) -> WebhookResult<Delivery> {
        let (tenant, id) = (tenant.clone(), id.clone());
        let found = self
            .store
            .read(move |r| {
                async move {
                    let Some(record) = r.delivery(&tenant, &id).await? else { return Ok(None) };
                    let attempts = r.delivery_attempts(&tenant, std::slice::from_ref(&id)).await?;
                    Ok(Some(Delivery { record, attempts }))
                }
                .boxed()
            })
            .await?;
        Ok(found.ok_or(StoreError::NotFound)?)
    }

    /// Sends one delivery again now, starting its retry schedule afresh.
    pub async fn retry(
        &self,
        tenant: &TenantId,
        id: &DeliveryId,
        once: Option<Once<Delivery>>,
    ) -> WebhookResult<Delivery> {
        let (t, i) = (tenant.clone(), id.clone());
        let delivery = write_once(&*self.store, tenant, once, move |tx| {
            async move {
                if !tx.retry_delivery(&t, &i, paystate_store::now()).await? {
                    return Err(StoreError::NotFound);
                }
                let record = tx.delivery(&t, &i).await?.ok_or(StoreError::NotFound)?;
                let attempts = tx.delivery_attempts(&t, std::slice::from_ref(&i)).await?;
                Ok(Delivery { record, attempts })
            }
            .boxed()
        })
        .await?;
        Ok(delivery)
    }

    /// Sends again every failed delivery of the endpoint created at or after `since`; answers
    /// how many.
    pub async fn retry_failed(
        &self,
        tenant: &TenantId,
        endpoint: &EndpointId,
        since: Timestamp,
        once: Option<Once<u64>>,
    ) -> WebhookResult<u64> {
        let (owner, endpoint) = (tenant.clone(), endpoint.clone());
        let retried = write_once(&*self.store, tenant, once, move |tx| {
            async move {
                tx.endpoint(&owner, &endpoint).await?.ok_or(StoreError::NotFound)?;
                tx.retry_failed_deliveries(&owner, &endpoint, since, paystate_store::now()).await
            }
            .boxed()
        })
        .await?;
        Ok(retried)
    }

    /// Queues a `webhook.test` message for the endpoint, through the same outbox and dispatcher
    /// as every event. The endpoint must be enabled.
    pub async fn send_test(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
        once: Option<Once<Delivery>>,
    ) -> WebhookResult<Delivery> {
        let (t, i) = (tenant.clone(), id.clone());
        let delivery = write_once(&*self.store, tenant, once, move |tx| {
            async move {
                let endpoint = tx.endpoint(&t, &i).await?.ok_or(StoreError::NotFound)?.endpoint;
                if !endpoint.enabled {
                    return Err(DomainError::Invalid {
                        field: "enabled",
                        message: "the endpoint is disabled; enable it to send a test".into(),
                    }
                    .into());
                }
                let now = paystate_store::now();
                let payload = serde_json::json!({
                    "type": TEST_EVENT_TYPE,
                    "timestamp": now.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                    "data": {"endpoint_id": endpoint.id, "message": "a test message from paystate"},
                })
                .to_string();
                let delivery =
                    paystate_store::new_delivery(&endpoint, &EventId::generate(), TEST_EVENT_TYPE, payload, now);
                tx.insert_delivery(&delivery).await?;
                Ok(Delivery { record: delivery, attempts: Vec::new() })
            }
            .boxed()
        })
        .await?;
        Ok(delivery)
    }
}

fn page_of<T: Clone>(data: &mut Vec<T>, limit: u32, cursor: impl Fn(&T) -> String) -> Page<T> {
    let has_more = data.len() > limit as usize;
    data.truncate(limit as usize);
    let next_cursor = if has_more { data.last().map(cursor) } else { None };
    Page { data: std::mem::take(data), has_more, next_cursor }
}

fn with_attempts(record: DeliveryRecord, attempts: &[AttemptRecord]) -> Delivery {
    let attempts = attempts.iter().filter(|a| a.delivery_id == record.id).cloned().collect();
    Delivery { record, attempts }
}
