//! Orders: the list (by state, cursor pages, deep links) and one order with its payments and
//! what they add up to against the order's total.

use crate::Console;
use crate::error::{PageError, PageResult};
use crate::format::{money, time};
use crate::layout::{self, Section};
use crate::payments;
use crate::session::{Signed, encode_component};
use axum::extract::{Path, Query, State};
use maud::{Markup, html};
use paystate_domain::{OrderId, OrderState, PaymentStatus, PaymentType};
use paystate_store::{OrderFilter, PageRequest, PaymentFilter};
use serde::Deserialize;

const PAGE_SIZE: u32 = 50;
const STATES: [OrderState; 3] = [OrderState::Open, OrderState::Closed, OrderState::Canceled];

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    state: String,
    #[serde(default)]
    after: String,
}

pub async fn list(State(state): State<Console>, signed: Signed, Query(query): Query<ListQuery>) -> PageResult<Markup> {
    let tenant = &signed.session.user.tenant_id;
    let wanted = match query.state.as_str() {
        "" => None,
        text => {
            Some(OrderState::parse(text).ok_or_else(|| PageError::invalid("The state is open, closed or canceled."))?)
        }
    };
    let after = OrderId::parse(&query.after).map(|id| id.to_string());
    let filter = OrderFilter { reference: None, state: wanted };
    let page = state.ledger.orders(tenant, filter, PageRequest { after, limit: PAGE_SIZE }).await?;
    let body = html! {
        div.page-head { div { h1 { "Orders" } p.sub { "Oldest first. Find one by its reference with the payments search." } } }
        section.card {
            nav.legend aria-label="Order state" {
                a href="/dashboard/orders" aria-current=[wanted.is_none().then_some("page")] { "all" }
                @for s in STATES {
                    a href=(format!("/dashboard/orders?state={}", s.as_str())) aria-current=[(wanted == Some(s)).then_some("page")] { (s.as_str()) }
                }
            }
            div.table-wrap { table {
                thead { tr { th { "Reference" } th { "Order" } th.num { "Total" } th { "State" } th.hide-narrow { "Created" } } }
                tbody {
                    @for o in &page.data {
                        tr {
                            td { a href=(format!("/dashboard/orders/{}", o.id)) { (o.reference) } }
                            td.mono { (o.id) }
                            td.num { (money(o.total_amount, &o.currency)) }
                            td { span.badge { (o.state.as_str()) } }
                            td.hide-narrow { (time(&o.created_at)) }
                        }
                    }
                    @if page.data.is_empty() { tr { td.empty colspan="5" { "No orders." } } }
                }
            } }
            div.pager {
                span { (page.data.len()) " shown" }
                @if let Some(next) = &page.next_cursor {
                    a.button.secondary rel="next"
                        href=(format!("/dashboard/orders?state={}&after={}", encode_component(&query.state), encode_component(next))) { "Next page →" }
                }
            }
        }
    };
    Ok(layout::page("Orders", &signed.session, Section::Orders, body))
}

pub async fn detail(State(state): State<Console>, signed: Signed, Path(id): Path<String>) -> PageResult<Markup> {
    let tenant = &signed.session.user.tenant_id;
    let order = state.ledger.order(tenant, &id).await?;
    let filter = PaymentFilter { order_id: Some(order.id.clone()), ..Default::default() };
    let payments = state.ledger.payments(tenant, filter, PageRequest { after: None, limit: 500 }).await?.data;
    let settled = |p: &&paystate_domain::Payment| matches!(p.status, PaymentStatus::Paid | PaymentStatus::Reversed);
    let received: i64 = payments
        .iter()
        .filter(settled)
        .filter(|p| p.kind == PaymentType::Receipt)
        .map(|p| p.amount - p.amount_refunded - p.amount_charged_back)
        .sum();
    let refunded: i64 =
        payments.iter().filter(settled).filter(|p| p.kind == PaymentType::Refund).map(|p| p.amount).sum();
    let net = received - refunded;
    let body = html! {
        div.page-head { div {
            p.sub { a href="/dashboard/orders" { "Orders" } " / " span.mono { (order.id) } }
            h1 { "Order " (order.reference) " " span.badge { (order.state.as_str()) } }
            p.sub { "Created " (time(&order.created_at)) " via " (order.created_via.as_str()) }
        } }
        div.stats {
            div.stat { div.label { "Total" } div.value { (money(order.total_amount, &order.currency)) } }
            div.stat { div.label { "Received, net" } div.value { (money(net, &order.currency)) } }
            div.stat.alert[net < order.total_amount && order.state == OrderState::Closed] {
                div.label { "Still open" } div.value { (money((order.total_amount - net).max(0), &order.currency)) }
            }
            div.stat { div.label { "Payments" } div.value { (payments.len()) } }
        }
        section.card aria-labelledby="order-payments" {
            h2 #order-payments { "Payments" }
            (payments::table(&payments))
        }
    };
    Ok(layout::page(&format!("Order {}", order.reference), &signed.session, Section::Orders, body))
}
