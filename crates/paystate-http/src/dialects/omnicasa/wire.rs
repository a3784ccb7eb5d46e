//! Omnicasa's wire: the request `UpdatePaymentOrderParameter` (JSON bound as ASP.NET Web API
//! binds it, or DataContract XML in the `OmnicasaApiv3.Parameters` namespace), its `StatusId`
//! numbering, the four media types, and the answers: the `ReturnResult` envelope of the update
//! and `ReturnResultOfPayments` of the read side, each written as Json.NET and as
//! DataContractSerializer write them (the exact bytes are the vendor's contract).

use serde::Serialize;

/// The DataContract namespace of the request.
pub const PARAMETERS_NS: &str = "http://schemas.datacontract.org/2004/07/OmnicasaApiv3.Parameters";
/// The DataContract namespace of the response.
pub const MODELS_NS: &str = "http://schemas.datacontract.org/2004/07/OmnicasaApiv3.Models";
/// XML Schema instance, for `i:nil`.
pub const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";
/// The root element of the request.
pub const REQUEST_ROOT: &str = "UpdatePaymentOrderParameter";

// --- media types ---------------------------------------------------------------------------

/// The four media types the endpoint reads and writes, in the order ASP.NET Web API lists its
/// formatters (JSON first).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediaType {
    ApplicationJson,
    TextJson,
    ApplicationXml,
    TextXml,
}

impl MediaType {
    pub const ALL: [MediaType; 4] = [Self::ApplicationJson, Self::TextJson, Self::ApplicationXml, Self::TextXml];

    pub fn essence(self) -> &'static str {
        match self {
            Self::ApplicationJson => "application/json",
            Self::TextJson => "text/json",
            Self::ApplicationXml => "application/xml",
            Self::TextXml => "text/xml",
        }
    }

    pub fn is_xml(self) -> bool {
        matches!(self, Self::ApplicationXml | Self::TextXml)
    }

    /// The `Content-Type` of an answer in this media type.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::ApplicationJson => "application/json; charset=utf-8",
            Self::TextJson => "text/json; charset=utf-8",
            Self::ApplicationXml => "application/xml; charset=utf-8",
            Self::TextXml => "text/xml; charset=utf-8",
        }
    }

    pub fn from_essence(essence: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.essence().eq_ignore_ascii_case(essence))
    }
}

// --- the request ------------------------------------------------------------------------------

/// `StatusId`: Mollie's payment checks, in Omnicasa's numbering.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusId {
    Open = 1,
    Paid = 2,
    Pending = 3,
    Failed = 4,
    Expired = 5,
    Canceled = 6,
    HasRefunds = 7,
    HasChargebacks = 8,
}

impl StatusId {
    pub const ALL: [StatusId; 8] = [
        Self::Open,
        Self::Paid,
        Self::Pending,
        Self::Failed,
        Self::Expired,
        Self::Canceled,
        Self::HasRefunds,
        Self::HasChargebacks,
    ];

    pub fn from_id(id: i64) -> Option<Self> {
        Self::ALL.into_iter().find(|s| *s as i64 == id)
    }
}

/// The request body, for the OpenAPI document (the handler reads bodies with
/// [`super::parse::update`], which also binds names ignoring case and reads XML).
#[derive(utoipa::ToSchema)]
#[allow(dead_code, non_snake_case)]
pub struct UpdatePaymentOrderParameter {
    /// 1 Open, 2 Paid, 3 Pending, 4 Failed, 5 Expired, 6 Canceled, 7 HasRefunds, 8 HasChargebacks.
    #[schema(minimum = 1, maximum = 8)]
    StatusId: i32,
    /// `yyyy-MM-dd HH:mm:ss` in the tenant's zone (default Europe/Brussels), or ISO 8601 with an offset.
    #[schema(example = "2020-11-25 14:30:00")]
    PaidAt: Option<String>,
    /// The order's reference.
    OrderId: String,
    /// 1 NL, 2 FR, 3 EN; anything else reads as 1.
    LanguageId: Option<i32>,
    /// Writes the SQL statements of this request to the server log (never to the answer).
    IsWriteLogSQL: Option<bool>,
}

// --- the update's answer -----------------------------------------------------------------------

/// `ReturnResultOfInt32`: the envelope of every answer, success or not.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
#[schema(as = ReturnResultOfInt32)]
pub struct ReturnResult {
    /// True when the update was accepted; when false, `Code` and `Message` say why.
    pub success: bool,
    /// 0 on success, else an error code (see the dialect's documentation).
    pub code: i32,
    /// Empty on success, else the error in the language of `LanguageId`.
    pub message: String,
    /// How many payments changed state (0 for a repeated or stale report).
    pub value: i32,
}

impl ReturnResult {
    pub fn to_bytes(&self, media: MediaType) -> Vec<u8> {
        if media.is_xml() { self.to_xml().into_bytes() } else { self.to_json() }
    }

    /// Json.NET's form: members in declaration order, no whitespace.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// DataContractSerializer's form, as ASP.NET Web API writes it: no declaration, the
    /// `xmlns:i` and default namespace on the root, members in alphabetical order.
    pub fn to_xml(&self) -> String {
        format!(
            "<ReturnResultOfint xmlns:i=\"{XSI_NS}\" xmlns=\"{MODELS_NS}\"><Code>{}</Code><Message>{}</Message>\
             <Success>{}</Success><Value>{}</Value></ReturnResultOfint>",
            self.code,
            quick_xml::escape::partial_escape(self.message.as_str()),
            self.success,
            self.value,
        )
    }
}

// --- the read side's answer --------------------------------------------------------------------

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

impl PaymentOrder {
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

    #[test]
    fn the_answer_matches_the_documents_sample() {
        let sample = ReturnResult { success: true, code: 2, message: "sample string 3".into(), value: 4 };
        let documented = r#"<ReturnResultOfint xmlns:i="http://www.w3.org/2001/XMLSchema-instance" xmlns="http://schemas.datacontract.org/2004/07/OmnicasaApiv3.Models"> <Code>2</Code> <Message>sample string 3</Message> <Success>true</Success> <Value>4</Value> </ReturnResultOfint>"#;
        assert_eq!(sample.to_xml(), documented.replace("> <", "><"));
        assert_eq!(
            String::from_utf8(sample.to_json()).unwrap(),
            r#"{"Success":true,"Code":2,"Message":"sample string 3","Value":4}"#
        );
        let escaped = ReturnResult { success: false, code: 1, message: "a<b & c'd\"".into(), value: 0 };
        assert!(escaped.to_xml().contains("<Message>a&lt;b &amp; c'd\"</Message>"));
    }
}
