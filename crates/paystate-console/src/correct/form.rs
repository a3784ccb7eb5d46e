//! The correction form of a payment page: the payment's values as they are, or what the person
//! sent with what is wrong with it (summarised at the top, linked to the field, marked on it).

use super::{Draft, REFERENCE_MAX, Refused, TEXT_MAX};
use maud::{Markup, html};
use paystate_domain::{Payment, PaymentMethod, PaymentStatus};

/// The correction form of a payment page: its current values, or what was sent with a problem.
pub fn form(base: &str, csrf: &str, payment: &Payment, methods: &[PaymentMethod], refused: Option<&Refused>) -> Markup {
    let fresh;
    let (draft, problem) = match refused {
        Some(r) => (&r.draft, Some(&r.problem)),
        None => {
            fresh = Draft::of(payment);
            (&fresh, None)
        }
    };
    let wrong = |field: &str| problem.is_some_and(|p| p.field == Some(field));
    let settled = matches!(payment.status, PaymentStatus::Paid | PaymentStatus::Reversed);
    let error = |field: &'static str| {
        html! { @if let Some(p) = problem.filter(|p| p.field == Some(field)) { p.field-error id=(format!("fix-{field}-error")) { (p.message) } } }
    };
    let described = |field: &str| wrong(field).then(|| format!("fix-{field}-error"));
    let code = payment.currency.code();
    html! {
        section.card #correct aria-labelledby="correct-title" {
            details open[refused.is_some()] {
                summary { h2 #correct-title { "Correct fields" } span.hint { " Fix what a channel got wrong, with a reason." } }
                form.correct method="post" action=(format!("{base}/correct")) novalidate {
                    input type="hidden" name="csrf" value=(csrf);
                    (crate::once::field())
                    input type="hidden" name="version" value=(draft.version);
                    @if let Some(p) = problem {
                        div.notice.bad role="alert" {
                            @if let Some(field) = p.field {
                                strong { "Nothing was saved. " } a href=(format!("#fix-{field}")) { (p.message) }
                            } @else { (p.message) }
                        }
                    }
                    @if settled {
                        p.notice.info { "This payment is " strong { (payment.status.as_str()) } ": the change is recorded as an audited correction, with you, your reason and every field before and after." }
                    }
                    div.fix-grid {
                        div.field {
                            label for="fix-amount" { "Amount in " (code) " " span.hint { "(" (payment.currency.exponent()) " decimals)" } }
                            input #fix-amount type="text" name="amount" inputmode="decimal" autocomplete="off" required
                                value=(draft.amount) aria-invalid=[wrong("amount").then_some("true")] aria-describedby=[described("amount")];
                            (error("amount"))
                        }
                        div.field {
                            label for="fix-method_id" { "Method" }
                            select #fix-method_id name="method_id" aria-invalid=[wrong("method_id").then_some("true")] aria-describedby=[described("method_id")] {
                                option value="" { "none" }
                                @for m in methods {
                                    option value=(m.id) selected[draft.method_id == m.id.as_str()] { (m.code) }
                                }
                            }
                            (error("method_id"))
                        }
                        div.field {
                            label for="fix-invoice_id" { "Invoice id" }
                            input #fix-invoice_id type="text" name="invoice_id" autocomplete="off" maxlength=(TEXT_MAX)
                                value=(draft.invoice_id) aria-invalid=[wrong("invoice_id").then_some("true")] aria-describedby=[described("invoice_id")];
                            (error("invoice_id"))
                        }
                        div.field {
                            label for="fix-external_id" { "External id" }
                            input #fix-external_id type="text" name="external_id" autocomplete="off" maxlength=(REFERENCE_MAX)
                                value=(draft.external_id) aria-invalid=[wrong("external_id").then_some("true")] aria-describedby=[described("external_id")];
                            (error("external_id"))
                        }
                        div.field.span-2 {
                            label for="fix-transaction_ref" { "Transaction reference" }
                            input #fix-transaction_ref type="text" name="transaction_ref" autocomplete="off" maxlength=(TEXT_MAX)
                                value=(draft.transaction_ref) aria-invalid=[wrong("transaction_ref").then_some("true")] aria-describedby=[described("transaction_ref")];
                            (error("transaction_ref"))
                        }
                        div.field.span-all {
                            label for="fix-note" { "Note" }
                            textarea #fix-note name="note" maxlength=(TEXT_MAX) aria-invalid=[wrong("note").then_some("true")] aria-describedby=[described("note")] { (draft.note) }
                            (error("note"))
                        }
                    }
                    div.field {
                        label for="fix-reason" { "Reason " span.hint { "(required, kept in the audit trail)" } }
                        textarea #fix-reason name="reason" required maxlength=(TEXT_MAX)
                            aria-invalid=[wrong("reason").then_some("true")] aria-describedby=[described("reason")] { (draft.reason) }
                        (error("reason"))
                    }
                    p.hint { "Empty text fields are cleared. Only the fields you change are recorded." }
                    button type="submit" { "Save correction" }
                }
            }
        }
    }
}
