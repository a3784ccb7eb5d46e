//! Omnicasa's requests into the ledger's input, pure and tested without a database: the
//! update's body (JSON or DataContract XML, see [`xml`]) into a [`ReportOrderStatus`] with the
//! answer's language and the `IsWriteLogSQL` flag, and the read side's query.
//!
//! The body is read as ASP.NET Web API binds `UpdatePaymentOrderParameter`: Json.NET matches
//! JSON names ignoring case and populates members in document order (a later duplicate wins),
//! converts numbers written as strings and strings written as numbers; `XmlConvert` reads XML
//! text. Every refusal is one of Omnicasa's codes, in the language of `LanguageId` once that
//! could be read.

mod paid_at;
mod xml;

pub use paid_at::paid_at;

use super::errors::{Failure, Language};
use super::wire::{MediaType, StatusId};
use crate::dialects::json::Members;
use paid_at::is_xml_space;
use paystate_domain::order_report::ReportedStatus;
use paystate_domain::{Adjustment, PaymentStatus};
use paystate_ledger::ReportOrderStatus;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// A valid `UpdatePaymentOrderParameter`.
#[derive(Clone, Debug, PartialEq)]
pub struct UpdatePaymentOrder {
    /// The ledger's input: `OrderId`, `StatusId` and `PaidAt`.
    pub report: ReportOrderStatus,
    pub language: Language,
    /// `IsWriteLogSQL`: write this request's SQL statements to the server log.
    pub write_log_sql: bool,
}

/// Why a request was refused, in the caller's language when it got far enough to name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rejection {
    pub failure: Failure,
    pub language: Language,
}

impl StatusId {
    /// The report this status is, in the domain's terms: 7 and 8 are facts about money that was
    /// paid, not statuses (the status stays paid).
    pub fn report(self) -> ReportedStatus {
        match self {
            Self::Open => ReportedStatus::Status(PaymentStatus::Open),
            Self::Paid => ReportedStatus::Status(PaymentStatus::Paid),
            Self::Pending => ReportedStatus::Status(PaymentStatus::Pending),
            Self::Failed => ReportedStatus::Status(PaymentStatus::Failed),
            Self::Expired => ReportedStatus::Status(PaymentStatus::Expired),
            Self::Canceled => ReportedStatus::Status(PaymentStatus::Canceled),
            Self::HasRefunds => ReportedStatus::Adjusted(Adjustment::Refund),
            Self::HasChargebacks => ReportedStatus::Adjusted(Adjustment::Chargeback),
        }
    }
}

/// A member's value as sent: a JSON value, or the text of an XML element.
#[derive(Clone, Debug, PartialEq)]
enum Raw {
    Json(Value),
    Xml(String),
}

/// The members of the body; `None` when absent, `null` or `i:nil`.
#[derive(Clone, Debug, Default, PartialEq)]
struct Fields {
    status_id: Option<Raw>,
    paid_at: Option<Raw>,
    order_id: Option<Raw>,
    language_id: Option<Raw>,
    is_write_log_sql: Option<Raw>,
}

/// The members' names as the vendor spells them.
const NAMES: [&str; 5] = ["StatusId", "PaidAt", "OrderId", "LanguageId", "IsWriteLogSQL"];

/// Reads and validates the update's body of the given media type.
pub fn update(media: MediaType, body: &[u8]) -> Result<UpdatePaymentOrder, Rejection> {
    // JSON escapes a NUL as \u0000; XML has no way to write one (`&#0;` is malformed).
    let nul = if media.is_xml() { body.contains(&0) } else { crate::extract::has_nul(body) };
    let fields = if nul {
        Err(Failure::Nul)
    } else if media.is_xml() {
        xml::fields(body)
    } else {
        json_fields(body)
    };
    validate(fields.map_err(|failure| Rejection { failure, language: Language::Nl })?)
}

fn validate(fields: Fields) -> Result<UpdatePaymentOrder, Rejection> {
    // The language first, so that every other refusal speaks it.
    let language_id = fields.language_id.as_ref().map(integer);
    let language = Language::from_id(language_id.flatten());
    let refuse = |failure| Rejection { failure, language };

    let order_id = fields.order_id.as_ref().and_then(text).unwrap_or_default();
    paystate_domain::order::validate_reference("OrderId", &order_id).map_err(|_| refuse(Failure::InvalidOrderId))?;
    let status = fields
        .status_id
        .as_ref()
        .and_then(integer)
        .and_then(StatusId::from_id)
        .ok_or(refuse(Failure::InvalidStatusId))?;
    let paid_at = match fields.paid_at.as_ref() {
        None => None,
        Some(raw) => match raw {
            Raw::Json(serde_json::Value::String(text)) | Raw::Xml(text) => {
                if text.trim_matches(is_xml_space).is_empty() {
                    // ASP.NET reads an empty string as no date for a nullable DateTime.
                    None
                } else {
                    Some(paid_at(text).ok_or(refuse(Failure::InvalidPaidAt))?)
                }
            }
            Raw::Json(_) => return Err(refuse(Failure::InvalidPaidAt)),
        },
    };
    if language_id.is_some_and(|id| id.is_none()) {
        return Err(refuse(Failure::InvalidLanguageId));
    }
    let write_log_sql = match fields.is_write_log_sql.as_ref() {
        None => false,
        Some(raw) => boolean(raw).ok_or(refuse(Failure::InvalidIsWriteLogSql))?,
    };
    let report = ReportOrderStatus { reference: order_id, status: status.report(), paid_at };
    Ok(UpdatePaymentOrder { report, language, write_log_sql })
}

/// An integer as Json.NET and `XmlConvert` read one: a JSON integer, or digits in a string.
fn integer(raw: &Raw) -> Option<i64> {
    match raw {
        // Json.NET reads a whole number written with a fraction of zeros (`4.0`) into an int.
        Raw::Json(serde_json::Value::Number(number)) => crate::extract::whole_number(&number.to_string()),
        Raw::Json(serde_json::Value::String(text)) => text.trim().parse().ok(),
        Raw::Json(_) => None,
        Raw::Xml(text) => text.trim_matches(is_xml_space).parse().ok(),
    }
}

/// A boolean as Json.NET (`true`, `"True"`, `1`) and `XmlConvert` (`true`, `1`) read one.
fn boolean(raw: &Raw) -> Option<bool> {
    match raw {
        Raw::Json(serde_json::Value::Bool(value)) => Some(*value),
        Raw::Json(serde_json::Value::Number(number)) => number.as_i64().map(|n| n != 0),
        Raw::Json(serde_json::Value::String(text)) => match text.trim() {
            t if t.eq_ignore_ascii_case("true") => Some(true),
            t if t.eq_ignore_ascii_case("false") => Some(false),
            _ => None,
        },
        Raw::Json(_) => None,
        Raw::Xml(text) => match text.trim_matches(is_xml_space) {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        },
    }
}

/// A string member: JSON strings, JSON numbers as written (Json.NET converts them), XML text.
fn text(raw: &Raw) -> Option<String> {
    match raw {
        Raw::Json(serde_json::Value::String(text)) | Raw::Xml(text) => Some(text.clone()),
        Raw::Json(serde_json::Value::Number(number)) => Some(number.to_string()),
        Raw::Json(_) => None,
    }
}

// --- JSON -------------------------------------------------------------------------------------

/// The root object's members in document order, for Json.NET's binding (a `Map` would sort them
/// and keep one value per exact name).
struct InOrder(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for InOrder {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct InOrderVisitor;

        impl<'de> Visitor<'de> for InOrderVisitor {
            type Value = InOrder;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an UpdatePaymentOrderParameter object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<InOrder, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry::<String, Value>()? {
                    members.push(member);
                }
                Ok(InOrder(members))
            }
        }

        deserializer.deserialize_map(InOrderVisitor)
    }
}

/// The members of a JSON body as Json.NET binds them: a name matching one of [`NAMES`] ignoring
/// case sets that member, a later one replacing an earlier one (a later `null` included); any
/// other member is ignored. The bound members are then read with the dialects' reader.
fn json_fields(body: &[u8]) -> Result<Fields, Failure> {
    let InOrder(members) = serde_json::from_slice(body).map_err(|error| {
        tracing::debug!(line = error.line(), column = error.column(), "Omnicasa: malformed JSON body");
        Failure::MalformedJson
    })?;
    let mut bound = Map::new();
    for (name, value) in members {
        if let Some(known) = NAMES.iter().find(|known| known.eq_ignore_ascii_case(&name)) {
            bound.insert((*known).to_owned(), value);
        }
    }
    // Names are exact once bound, so the reader never finds one twice; `null` reads as absent.
    let members = Members::root(&bound);
    let member = |name: &str| members.get(name).ok().flatten().cloned().map(Raw::Json);
    Ok(Fields {
        status_id: member("StatusId"),
        paid_at: member("PaidAt"),
        order_id: member("OrderId"),
        language_id: member("LanguageId"),
        is_write_log_sql: member("IsWriteLogSQL"),
    })
}

// --- the read side's query ----------------------------------------------------------------------

/// The query of a read, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GetOrder {
    pub order_id: String,
    pub language: Language,
    pub write_log_sql: bool,
}

/// Reads the query as ASP.NET Web API binds one: names ignoring case, the first of a repeated
/// name, an empty value as absent. Refusals speak the language when it could be read.
pub fn get_order(query: Option<&str>) -> Result<GetOrder, Rejection> {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect();
    let first = |name: &str| pairs.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str());
    let language_id = first("LanguageId").map(|v| v.trim().parse::<i64>().ok());
    let language = Language::from_id(language_id.flatten());
    if language_id.is_some_and(|id| id.is_none()) {
        return Err(Rejection { failure: Failure::InvalidLanguageId, language });
    }
    let order_id = first("OrderId").unwrap_or_default().to_owned();
    paystate_domain::order::validate_reference("OrderId", &order_id)
        .map_err(|_| Rejection { failure: Failure::InvalidOrderId, language })?;
    // The order's reference as sent, like the update's `OrderId`; the flags with white space
    // around them read as ASP.NET reads them.
    let write_log_sql = match first("IsWriteLogSQL").map(str::trim) {
        None => false,
        Some(v) if v.eq_ignore_ascii_case("true") || v == "1" => true,
        Some(v) if v.eq_ignore_ascii_case("false") || v == "0" => false,
        Some(_) => return Err(Rejection { failure: Failure::InvalidIsWriteLogSql, language }),
    };
    Ok(GetOrder { order_id, language, write_log_sql })
}

#[cfg(test)]
mod tests {
    use super::*;
    use paystate_domain::PaymentCommand;
    use paystate_domain::order_report::Tz;
    use paystate_domain::payment::MissingAmount;

    const XML_SAMPLE: &str = r#"<UpdatePaymentOrderParameter xmlns:i="http://www.w3.org/2001/XMLSchema-instance" xmlns="http://schemas.datacontract.org/2004/07/OmnicasaApiv3.Parameters"> <IsWriteLogSQL>true</IsWriteLogSQL> <LanguageId>4</LanguageId> <OrderId>sample string 3</OrderId> <PaidAt>2025-12-11T02:03:02.5364112+01:00</PaidAt> <StatusId>1</StatusId> </UpdatePaymentOrderParameter>"#;

    fn xml(body: &str) -> Result<UpdatePaymentOrder, Failure> {
        update(MediaType::ApplicationXml, body.as_bytes()).map_err(|r| r.failure)
    }

    fn json(body: &str) -> Result<UpdatePaymentOrder, Failure> {
        update(MediaType::ApplicationJson, body.as_bytes()).map_err(|r| r.failure)
    }

    #[test]
    fn the_documents_samples_read_alike() {
        let from_xml = xml(XML_SAMPLE).unwrap();
        let from_json = json(
            r#"{"StatusId": 1, "PaidAt": "2025-12-11T02:03:02.5364112+01:00", "OrderId": "sample string 3", "LanguageId": 4, "IsWriteLogSQL": true}"#,
        )
        .unwrap();
        assert_eq!(from_xml, from_json);
        assert_eq!(from_xml.report.reference, "sample string 3");
        assert_eq!(from_xml.report.status, StatusId::Open.report());
        assert_eq!(from_xml.language, Language::Nl, "4 is out of range: NL");
        assert!(from_xml.write_log_sql);
        let paid_at = from_xml.report.paid_at.unwrap().instant(Tz::Europe__Brussels);
        assert_eq!(paid_at.to_rfc3339(), "2025-12-11T01:03:02.536411+00:00");
    }

    #[test]
    fn json_names_bind_ignoring_case_and_later_duplicates_win() {
        let parsed =
            json(r#"{"orderid": "A-1", "STATUSID": "2", "statusId": 3, "languageid": 3, "iswritelogsql": "True", "Extra": [1]}"#)
                .unwrap();
        assert_eq!(parsed.report.reference, "A-1");
        assert_eq!(parsed.report.status, StatusId::Pending.report());
        assert_eq!(parsed.language, Language::En);
        assert!(parsed.write_log_sql);
        let nulls =
            json(r#"{"OrderId": 42, "StatusId": 2, "PaidAt": null, "LanguageId": null, "IsWriteLogSQL": null}"#)
                .unwrap();
        assert_eq!(nulls.report.reference, "42");
        assert_eq!((nulls.report.paid_at, nulls.language, nulls.write_log_sql), (None, Language::Nl, false));
    }

    #[test]
    fn json_refusals() {
        assert_eq!(json("{"), Err(Failure::MalformedJson));
        assert_eq!(json("[1]"), Err(Failure::MalformedJson));
        assert_eq!(json(r#"{"OrderId": "A"} x"#), Err(Failure::MalformedJson));
        assert_eq!(json(r#"{"StatusId": 2}"#), Err(Failure::InvalidOrderId));
        assert_eq!(
            json(r#"{"OrderId": "A", "StatusId": 2.0}"#).map(|p| p.report.status),
            json(r#"{"OrderId": "A", "StatusId": 2}"#).map(|p| p.report.status)
        );
        assert_eq!(json(r#"{"OrderId": "A", "StatusId": 2.5}"#).map(|_| ()), Err(Failure::InvalidStatusId));
        assert_eq!(json(r#"{"OrderId": "", "StatusId": 2}"#), Err(Failure::InvalidOrderId));
        assert_eq!(json(r#"{"OrderId": "a\u0007b", "StatusId": 2}"#), Err(Failure::InvalidOrderId));
        assert_eq!(json(r#"{"OrderId": true, "StatusId": 2}"#), Err(Failure::InvalidOrderId));
        assert_eq!(json(r#"{"OrderId": "A"}"#), Err(Failure::InvalidStatusId));
        for bad in ["0", "9", "-1", "2.5", "\"two\"", "true", "99999999999999999999"] {
            assert_eq!(
                json(&format!(r#"{{"OrderId": "A", "StatusId": {bad}}}"#)),
                Err(Failure::InvalidStatusId),
                "{bad}"
            );
        }
        assert_eq!(json(r#"{"OrderId": "A", "StatusId": 2, "PaidAt": 5}"#), Err(Failure::InvalidPaidAt));
        assert_eq!(json(r#"{"OrderId": "A", "StatusId": 2, "PaidAt": "tomorrow"}"#), Err(Failure::InvalidPaidAt));
        assert_eq!(json(r#"{"OrderId": "A", "StatusId": 2, "LanguageId": "fr"}"#), Err(Failure::InvalidLanguageId));
        assert_eq!(
            json(r#"{"OrderId": "A", "StatusId": 2, "IsWriteLogSQL": "yes"}"#),
            Err(Failure::InvalidIsWriteLogSql)
        );
    }

    #[test]
    fn a_refusal_speaks_the_language_of_the_body() {
        let refused = update(MediaType::TextJson, br#"{"OrderId": "A", "StatusId": 12, "LanguageId": 2}"#).unwrap_err();
        assert_eq!(refused, Rejection { failure: Failure::InvalidStatusId, language: Language::Fr });
        let malformed = update(MediaType::TextJson, b"{").unwrap_err();
        assert_eq!(malformed.language, Language::Nl);
    }

    #[test]
    fn every_status_id_maps_to_a_command() {
        use PaymentStatus::*;
        let expected = [Open, Paid, Pending, Failed, Expired, Canceled];
        for (id, status) in (1..=6).zip(expected) {
            assert_eq!(
                StatusId::from_id(id).unwrap().report().command(None),
                PaymentCommand::ReportStatus { status, paid_at: None }
            );
        }
        assert_eq!(
            StatusId::HasRefunds.report().command(None),
            PaymentCommand::Adjust { kind: Adjustment::Refund, amount: None, missing: MissingAmount::FlagOnly }
        );
        assert_eq!(
            StatusId::HasChargebacks.report().command(None),
            PaymentCommand::Adjust { kind: Adjustment::Chargeback, amount: None, missing: MissingAmount::FlagOnly }
        );
        assert_eq!(StatusId::from_id(0), None);
        assert_eq!(StatusId::from_id(9), None);
    }

    #[test]
    fn the_query_binds_as_aspnet_does() {
        let read = |q: &str| get_order(Some(q));
        let expected = GetOrder { order_id: "OM 1/2".into(), language: Language::En, write_log_sql: true };
        assert_eq!(read("orderid=OM+1%2F2&LANGUAGEID=3&IsWriteLogSQL=True"), Ok(expected));
        let first = read("OrderId=A&OrderId=B&LanguageId=&IsWriteLogSQL=").unwrap();
        assert_eq!((first.order_id.as_str(), first.language, first.write_log_sql), ("A", Language::Nl, false));
        assert_eq!(read("LanguageId=2"), Err(Rejection { failure: Failure::InvalidOrderId, language: Language::Fr }));
        assert_eq!(
            read("OrderId=A&LanguageId=two"),
            Err(Rejection { failure: Failure::InvalidLanguageId, language: Language::Nl })
        );
        assert_eq!(
            read("OrderId=A&IsWriteLogSQL=yes"),
            Err(Rejection { failure: Failure::InvalidIsWriteLogSql, language: Language::Nl })
        );
        assert_eq!(read("OrderId=%01x"), Err(Rejection { failure: Failure::InvalidOrderId, language: Language::Nl }));
        assert_eq!(get_order(None), Err(Rejection { failure: Failure::InvalidOrderId, language: Language::Nl }));
        assert_eq!(read("OrderId=100%25").unwrap().order_id, "100%");
        assert_eq!(read("OrderId=50%").unwrap().order_id, "50%");
    }

    #[test]
    fn a_later_member_wins_in_document_order_whatever_its_spelling() {
        let status = |body: &str| json(body).map(|p| p.report.status);
        assert_eq!(status(r#"{"OrderId": "A", "statusId": 3, "STATUSID": "2"}"#), Ok(StatusId::Paid.report()));
        assert_eq!(
            status(r#"{"OrderId": "A", "StatusId": 1, "statusid": 2, "StatusId": 3}"#),
            Ok(StatusId::Pending.report())
        );
        assert_eq!(status(r#"{"OrderId": "A", "StatusId": 2, "statusid": null}"#), Err(Failure::InvalidStatusId));
    }

    #[test]
    fn nul_characters_are_refused_as_json_and_as_xml_write_them() {
        assert_eq!(json(r#"{"OrderId": "A\u0000", "StatusId": 2}"#), Err(Failure::Nul));
        assert_eq!(xml("<UpdatePaymentOrderParameter>\0</UpdatePaymentOrderParameter>"), Err(Failure::Nul));
    }
}
