//! The read side's wire types: `ReturnResultOfPayments`, whose `Value` is the payment order
//! (`Payments`), in Json.NET's and DataContractSerializer's forms, and how a paystate payment is
//! told in Omnicasa's words (its `StatusId`, a localized `StatusName`, dates as strings).

use super::errors::Language;
use super::transformers::{MODELS_NS, MediaType, StatusId, XSI_NS};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use paystate_domain::{Order, Payment, PaymentStatus};
use serde::Serialize;

/// The payment order, as Omnicasa's `get-order` answers it.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
#[schema(as = Payments)]
pub struct PaymentOrder {
    /// paystate's payment id (`pay_…`): paystate's ids are text, not Omnicasa's integers.
    pub id: String,
    /// The order's reference, as the update's `OrderId`.
    pub order_id: String,
    /// 1 Open, 2 Paid, 3 Pending, 4 Failed, 5 Expired, 6 Canceled, 7 HasRefunds, 8 HasChargebacks.
    pub status_id: i32,
    /// The status's name in the language of `LanguageId`.
    pub status_name: String,
    /// The amount in major units with all of the currency's decimals (`12.50`).
    #[schema(value_type = f64, example = 12.5)]
    pub value: serde_json::Number,
    /// The payment's note.
    pub description: Option<String>,
    /// `yyyy-MM-dd HH:mm:ss` in the tenant's Omnicasa zone.
    #[schema(example = "2020-11-25 14:30:00")]
    pub create_at: String,
    pub paid_at: Option<String>,
    /// When an expired payment expired (paystate keeps no deadline of an open one).
    pub expires_at: Option<String>,
    /// From the order's `attributes.omnicasa.PersonId`, when set through the native API.
    pub person_id: Option<i64>,
    pub property_id: Option<i64>,
    pub person_ident: Option<String>,
    pub property_ident: Option<String>,
}

/// `ReturnResultOfPayments`: the envelope of every answer of the read side.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
#[schema(as = ReturnResultOfPayments)]
pub struct PaymentsResult {
    pub success: bool,
    pub code: i32,
    pub message: String,
    /// The payment order; null on errors.
    pub value: Option<PaymentOrder>,
}

impl StatusId {
    /// What Omnicasa would hold for the payment: its status, and for money that went back, the
    /// last fact reported of it (a chargeback above a refund).
    pub fn of(payment: &Payment) -> StatusId {
        match payment.status {
            PaymentStatus::Open => Self::Open,
            PaymentStatus::Pending | PaymentStatus::Authorized => Self::Pending,
            PaymentStatus::Paid if payment.has_chargebacks => Self::HasChargebacks,
            PaymentStatus::Paid if payment.has_refunds => Self::HasRefunds,
            PaymentStatus::Paid => Self::Paid,
            PaymentStatus::Failed => Self::Failed,
            PaymentStatus::Expired => Self::Expired,
            PaymentStatus::Canceled => Self::Canceled,
            PaymentStatus::Reversed if payment.has_chargebacks => Self::HasChargebacks,
            PaymentStatus::Reversed => Self::HasRefunds,
        }
    }

    pub fn name(self, language: Language) -> &'static str {
        use Language::*;
        match (self, language) {
            (Self::Open, Nl | En) => "Open",
            (Self::Open, Fr) => "Ouvert",
            (Self::Paid, Nl) => "Betaald",
            (Self::Paid, Fr) => "Payé",
            (Self::Paid, En) => "Paid",
            (Self::Pending, Nl) => "In behandeling",
            (Self::Pending, Fr) => "En attente",
            (Self::Pending, En) => "Pending",
            (Self::Failed, Nl) => "Mislukt",
            (Self::Failed, Fr) => "Échoué",
            (Self::Failed, En) => "Failed",
            (Self::Expired, Nl) => "Verlopen",
            (Self::Expired, Fr) => "Expiré",
            (Self::Expired, En) => "Expired",
            (Self::Canceled, Nl) => "Geannuleerd",
            (Self::Canceled, Fr) => "Annulé",
            (Self::Canceled, En) => "Canceled",
            (Self::HasRefunds, Nl) => "Terugbetaald",
            (Self::HasRefunds, Fr) => "Remboursé",
            (Self::HasRefunds, En) => "Refunded",
            (Self::HasChargebacks, Nl) => "Teruggeboekt",
            (Self::HasChargebacks, Fr) => "Rétrofacturé",
            (Self::HasChargebacks, En) => "Charged back",
        }
    }
}

impl PaymentOrder {
    pub fn of(order: &Order, payment: &Payment, zone: Tz, language: Language) -> PaymentOrder {
        let local = |at: DateTime<Utc>| at.with_timezone(&zone).format("%Y-%m-%d %H:%M:%S").to_string();
        let omnicasa = order.attributes.get("omnicasa");
        let number = |key: &str| omnicasa.and_then(|o| o.get(key)).and_then(serde_json::Value::as_i64);
        let text = |key: &str| omnicasa.and_then(|o| o.get(key)).and_then(serde_json::Value::as_str).map(str::to_owned);
        let status = StatusId::of(payment);
        let amount = payment.currency.major_text_fixed(payment.amount);
        PaymentOrder {
            id: payment.id.to_string(),
            order_id: order.reference.clone(),
            status_id: status as i32,
            status_name: status.name(language).to_owned(),
            // Digits with one optional point: always a valid JSON number.
            value: amount.parse().unwrap_or_else(|_| serde_json::Number::from(0)),
            description: payment.note.clone(),
            create_at: local(payment.created_at),
            paid_at: payment.paid_at.map(local),
            expires_at: (payment.status == PaymentStatus::Expired).then_some(payment.completed_at).flatten().map(local),
            person_id: number("PersonId"),
            property_id: number("PropertyId"),
            person_ident: text("PersonIdent"),
            property_ident: text("PropertyIdent"),
        }
    }

    /// DataContractSerializer's members: alphabetical, `i:nil` for what is absent.
    fn to_xml(&self) -> String {
        fn element(name: &str, value: Option<&str>) -> String {
            match value {
                Some(text) => format!("<{name}>{}</{name}>", quick_xml::escape::partial_escape(text)),
                None => format!("<{name} i:nil=\"true\"/>"),
            }
        }
        let (person_id, property_id) = (self.person_id.map(|n| n.to_string()), self.property_id.map(|n| n.to_string()));
        [
            element("CreateAt", Some(&self.create_at)),
            element("Description", self.description.as_deref()),
            element("ExpiresAt", self.expires_at.as_deref()),
            element("Id", Some(&self.id)),
            element("OrderId", Some(&self.order_id)),
            element("PaidAt", self.paid_at.as_deref()),
            element("PersonId", person_id.as_deref()),
            element("PersonIdent", self.person_ident.as_deref()),
            element("PropertyId", property_id.as_deref()),
            element("PropertyIdent", self.property_ident.as_deref()),
            element("StatusId", Some(&self.status_id.to_string())),
            element("StatusName", Some(&self.status_name)),
            element("Value", Some(&self.value.to_string())),
        ]
        .concat()
    }
}

impl PaymentsResult {
    pub fn to_bytes(&self, media: MediaType) -> Vec<u8> {
        if media.is_xml() { self.to_xml().into_bytes() } else { serde_json::to_vec(self).unwrap_or_default() }
    }

    fn to_xml(&self) -> String {
        let value = match &self.value {
            Some(order) => format!("<Value>{}</Value>", order.to_xml()),
            None => "<Value i:nil=\"true\"/>".to_owned(),
        };
        format!(
            "<ReturnResultOfPayments xmlns:i=\"{XSI_NS}\" xmlns=\"{MODELS_NS}\"><Code>{}</Code><Message>{}</Message>\
             <Success>{}</Success>{value}</ReturnResultOfPayments>",
            self.code,
            quick_xml::escape::partial_escape(self.message.as_str()),
            self.success,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> PaymentOrder {
        PaymentOrder {
            id: "pay_1".into(),
            order_id: "OM-1 & co".into(),
            status_id: 2,
            status_name: "Paid".into(),
            value: "12.50".parse().unwrap(),
            description: None,
            create_at: "2020-11-25 14:30:00".into(),
            paid_at: Some("2020-11-25 14:31:00".into()),
            expires_at: None,
            person_id: Some(7),
            property_id: None,
            person_ident: None,
            property_ident: None,
        }
    }

    #[test]
    fn json_is_in_declaration_order_with_the_decimal_as_written() {
        let result = PaymentsResult { success: true, code: 0, message: String::new(), value: Some(sample()) };
        let json = String::from_utf8(result.to_bytes(MediaType::ApplicationJson)).unwrap();
        assert_eq!(
            json,
            r#"{"Success":true,"Code":0,"Message":"","Value":{"Id":"pay_1","OrderId":"OM-1 & co","StatusId":2,"StatusName":"Paid","Value":12.50,"Description":null,"CreateAt":"2020-11-25 14:30:00","PaidAt":"2020-11-25 14:31:00","ExpiresAt":null,"PersonId":7,"PropertyId":null,"PersonIdent":null,"PropertyIdent":null}}"#
        );
    }

    #[test]
    fn xml_is_alphabetical_with_nil_for_what_is_absent() {
        let result = PaymentsResult { success: true, code: 0, message: String::new(), value: Some(sample()) };
        let xml = String::from_utf8(result.to_bytes(MediaType::TextXml)).unwrap();
        assert!(xml.starts_with(&format!(
            "<ReturnResultOfPayments xmlns:i=\"{XSI_NS}\" xmlns=\"{MODELS_NS}\"><Code>0</Code>"
        )));
        assert!(xml.contains(
            "<Value><CreateAt>2020-11-25 14:30:00</CreateAt><Description i:nil=\"true\"/><ExpiresAt i:nil=\"true\"/><Id>pay_1</Id><OrderId>OM-1 &amp; co</OrderId>"
        ));
        assert!(xml.ends_with(
            "<StatusId>2</StatusId><StatusName>Paid</StatusName><Value>12.50</Value></Value></ReturnResultOfPayments>"
        ));
        let failed = PaymentsResult { success: false, code: 11, message: "x".into(), value: None };
        let xml = String::from_utf8(failed.to_bytes(MediaType::ApplicationXml)).unwrap();
        assert!(xml.ends_with("<Success>false</Success><Value i:nil=\"true\"/></ReturnResultOfPayments>"), "{xml}");
    }
}
