//! The transactional outbox: what an event fans out to, decided here once for every backend.
//!
//! When a write job commits, its backend numbers and writes each event the job recorded and, in
//! the same transaction, the rows that carry the event to the tenant's subscribers, so those rows
//! exist exactly when the event does. Which subscribers get an event, and what each row holds, is
//! decided by [`fan_out`], a pure function; a backend only reads the tenant's [`Subscriber`]s and
//! writes the [`OutboxRow`]s it is handed.
//!
//! Webhook endpoints are the only subscribers so far. Another kind (an event stream is planned)
//! is another [`Subscriber`] with its [`OutboxRow`]: each backend's match on the row stops
//! compiling until the backend knows how to write it.

use crate::webhooks::{DeliveryRecord, event_payload, new_delivery};
use paystate_domain::{Actor, EventDraft, EventId, Timestamp, WebhookEndpoint};

/// One of a tenant's subscribers to its events, as the backend read it in the transaction that
/// writes the events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subscriber {
    /// A webhook endpoint: each event of a type it subscribes to becomes one delivery.
    Webhook(WebhookEndpoint),
}

impl Subscriber {
    /// Whether an event of this type goes to the subscriber now.
    fn wants(&self, event_type: &str) -> bool {
        match self {
            Self::Webhook(endpoint) => endpoint.wants(event_type),
        }
    }
}

/// A row the outbox adds beside an event, in the event's transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OutboxRow {
    /// A webhook delivery, due at once.
    Delivery(DeliveryRecord),
}

/// An event a job recorded, about to be written: its id, time and data are fixed before the
/// backend numbers it, so that the event's row and the rows of its fan-out say the same.
#[derive(Clone, Debug)]
pub struct NewEvent {
    pub id: EventId,
    pub actor: Actor,
    pub draft: EventDraft,
    /// The snapshot of the event's subject ([`EventDraft::data`]), computed once.
    pub data: serde_json::Value,
    pub created_at: Timestamp,
}

impl NewEvent {
    /// The event `actor` recorded, given an id and the current time.
    pub fn new(actor: Actor, draft: EventDraft) -> Self {
        let data = draft.data();
        Self { id: EventId::generate(), actor, draft, data, created_at: crate::now() }
    }
}

/// The rows that carry `event`, numbered `seq` in its tenant, to those of the tenant's
/// `subscribers` that want it, in the subscribers' order. Every webhook delivery of one event
/// carries the same payload.
pub fn fan_out(event: &NewEvent, seq: i64, subscribers: &[Subscriber]) -> Vec<OutboxRow> {
    let event_type = event.draft.kind.as_str();
    let mut payload = None;
    subscribers
        .iter()
        .filter(|subscriber| subscriber.wants(event_type))
        .map(|subscriber| match subscriber {
            Subscriber::Webhook(endpoint) => {
                let body = payload
                    .get_or_insert_with(|| event_payload(event_type, seq, &event.created_at, &event.data))
                    .clone();
                OutboxRow::Delivery(new_delivery(endpoint, &event.id, event_type, body, event.created_at))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DeliveryState;
    use paystate_domain::order::NewOrder;
    use paystate_domain::{Currency, EndpointId, EventSelection, Order, Source, TenantId};

    fn order_created(tenant: &TenantId) -> NewEvent {
        let actor = Actor {
            tenant_id: tenant.clone(),
            key_id: None,
            user_id: None,
            source: Source::Cli,
            request_id: "outbox".into(),
            request_body: None,
        };
        let new = NewOrder {
            reference: "O-1".into(),
            currency: Currency::parse("EUR").unwrap(),
            total_amount: 1000,
            customer: serde_json::json!({}),
            attributes: serde_json::Value::Null,
        };
        let (_, draft) = Order::open(new, &actor, crate::now()).unwrap();
        NewEvent::new(actor, draft)
    }

    fn webhook(tenant: &TenantId, events: &[&str], enabled: bool) -> Subscriber {
        let at = crate::now();
        Subscriber::Webhook(WebhookEndpoint {
            id: EndpointId::generate(),
            tenant_id: tenant.clone(),
            url: "https://hooks.example.com/in".into(),
            events: EventSelection::parse(events.iter().map(|e| (*e).to_owned()).collect()).unwrap(),
            description: None,
            enabled,
            disabled_reason: None,
            disabled_at: None,
            failing_since: None,
            created_at: at,
            updated_at: at,
        })
    }

    fn endpoint_id(subscriber: &Subscriber) -> &EndpointId {
        match subscriber {
            Subscriber::Webhook(endpoint) => &endpoint.id,
        }
    }

    #[test]
    fn an_event_goes_to_each_enabled_subscriber_of_its_type_once() {
        let tenant = TenantId::generate();
        let event = order_created(&tenant);
        let subscribers = [
            webhook(&tenant, &["*"], true),
            webhook(&tenant, &["payment.status_changed"], true),
            webhook(&tenant, &["order.created"], false),
            webhook(&tenant, &["order.created", "payment.created"], true),
        ];
        let rows = fan_out(&event, 7, &subscribers);
        let deliveries: Vec<&DeliveryRecord> = rows
            .iter()
            .map(|row| match row {
                OutboxRow::Delivery(delivery) => delivery,
            })
            .collect();
        let to: Vec<&EndpointId> = deliveries.iter().map(|d| &d.endpoint_id).collect();
        assert_eq!(to, [endpoint_id(&subscribers[0]), endpoint_id(&subscribers[3])]);
        for delivery in &deliveries {
            assert_eq!((&delivery.tenant_id, &delivery.event_id), (&tenant, &event.id));
            assert_eq!(delivery.event_type, "order.created");
            assert_eq!((delivery.state, delivery.attempts, delivery.step), (DeliveryState::Pending, 0, 0));
            assert_eq!(delivery.next_attempt_at, Some(event.created_at), "due at once");
            assert_eq!(delivery.payload, deliveries[0].payload, "one payload for every delivery");
        }
        let payload: serde_json::Value = serde_json::from_str(&deliveries[0].payload).unwrap();
        assert_eq!(payload["type"], "order.created");
        assert_eq!(payload["data"]["seq"], 7);
        assert_eq!(payload["data"]["id"], event.data["id"]);
    }

    #[test]
    fn an_event_nobody_subscribes_to_fans_out_to_nothing() {
        let tenant = TenantId::generate();
        let event = order_created(&tenant);
        assert!(fan_out(&event, 1, &[]).is_empty());
        let uninterested = [webhook(&tenant, &["payment.created"], true), webhook(&tenant, &["*"], false)];
        assert!(fan_out(&event, 1, &uninterested).is_empty());
    }
}
