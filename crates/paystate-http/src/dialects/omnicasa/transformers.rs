//! Omnicasa's wire types and their translation into paystate's commands and back.
//!
//! The request is read the way ASP.NET Web API binds `UpdatePaymentOrderParameter`: JSON with
//! property names matched case-insensitively (Json.NET), or DataContract XML in the
//! `OmnicasaApiv3.Parameters` namespace with members in any order and `i:nil="true"` read as
//! absent. The answer is the `ReturnResult` envelope, as JSON or as the DataContract XML of
//! `ReturnResultOfint`.

use super::errors::{Failure, Language};
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use paystate_domain::payment::{Adjustment, MissingAmount};
use paystate_domain::{Payment, PaymentCommand, PaymentStatus, Timestamp};
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use serde::Serialize;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use std::fmt;

/// The DataContract namespace of the request.
pub const PARAMETERS_NS: &str = "http://schemas.datacontract.org/2004/07/OmnicasaApiv3.Parameters";
/// The DataContract namespace of the response.
pub const MODELS_NS: &str = "http://schemas.datacontract.org/2004/07/OmnicasaApiv3.Models";
/// XML Schema instance, for `i:nil`.
pub const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";
/// The root element of the request.
const REQUEST_ROOT: &str = "UpdatePaymentOrderParameter";

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

    fn from_essence(essence: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.essence().eq_ignore_ascii_case(essence))
    }

    /// The media type of a request's `Content-Type`; only UTF-8 (the default) is read.
    pub fn of_content_type(value: &str) -> Option<Self> {
        let mut parts = value.split(';');
        let media = Self::from_essence(parts.next().unwrap_or_default().trim())?;
        for parameter in parts {
            let (name, value) = parameter.split_once('=').unwrap_or((parameter, ""));
            if name.trim().eq_ignore_ascii_case("charset") {
                let charset = value.trim().trim_matches('"');
                if !(charset.eq_ignore_ascii_case("utf-8") || charset.eq_ignore_ascii_case("utf8")) {
                    return None;
                }
            }
        }
        Some(media)
    }
}

/// Chooses the answer's media type as ASP.NET Web API's content negotiation does: the best
/// `Accept` entry this endpoint can write (a literal type beats a range of the same quality; a
/// range prefers the request's own type), else the request's content type, else JSON.
pub fn negotiate(accept: Option<&str>, request: Option<MediaType>) -> MediaType {
    let mut entries: Vec<(u16, bool, &str)> = Vec::new();
    for entry in accept.unwrap_or_default().split(',') {
        let mut parts = entry.split(';');
        let range = parts.next().unwrap_or_default().trim();
        if range.is_empty() {
            continue;
        }
        let mut quality = 1000u16;
        for parameter in parts {
            if let Some((name, value)) = parameter.split_once('=')
                && name.trim().eq_ignore_ascii_case("q")
            {
                quality = value.trim().parse::<f32>().map_or(0, |q| (q.clamp(0.0, 1.0) * 1000.0) as u16);
            }
        }
        if quality > 0 {
            entries.push((quality, !range.contains('*'), range));
        }
    }
    // Highest quality first; at equal quality a literal type before a range; otherwise as sent.
    entries.sort_by_key(|&(quality, literal, _)| std::cmp::Reverse((quality, literal)));
    for (_, literal, range) in entries {
        if literal {
            if let Some(media) = MediaType::from_essence(range) {
                return media;
            }
            continue;
        }
        let (kind, _) = range.split_once('/').unwrap_or((range, "*"));
        let fits =
            |media: MediaType| kind == "*" || media.essence().split('/').next() == Some(&kind.to_ascii_lowercase());
        if let Some(media) = request.filter(|m| fits(*m)) {
            return media;
        }
        if let Some(media) = MediaType::ALL.into_iter().find(|m| fits(*m)) {
            return media;
        }
    }
    request.unwrap_or(MediaType::ApplicationJson)
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

    /// 7 and 8 are facts about a paid payment, not statuses: the status stays paid.
    pub fn is_adjustment(self) -> bool {
        matches!(self, Self::HasRefunds | Self::HasChargebacks)
    }

    /// The command of the canonical status machine this report is.
    pub fn command(self, paid_at: Option<Timestamp>) -> PaymentCommand {
        let report = |status| PaymentCommand::ReportStatus { status, paid_at };
        let flag = |kind| PaymentCommand::Adjust { kind, amount: None, missing: MissingAmount::FlagOnly };
        match self {
            Self::Open => report(PaymentStatus::Open),
            Self::Paid => report(PaymentStatus::Paid),
            Self::Pending => report(PaymentStatus::Pending),
            Self::Failed => report(PaymentStatus::Failed),
            Self::Expired => report(PaymentStatus::Expired),
            Self::Canceled => report(PaymentStatus::Canceled),
            Self::HasRefunds => flag(Adjustment::Refund),
            Self::HasChargebacks => flag(Adjustment::Chargeback),
        }
    }
}

/// `PaidAt` as sent: a wall-clock time of the tenant's zone, or an instant with its offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PaidAt {
    Local(NaiveDateTime),
    Exact(DateTime<FixedOffset>),
}

impl PaidAt {
    /// Reads `yyyy-MM-dd HH:mm:ss` (Omnicasa's documented format, local time) and ISO 8601
    /// (`T` or a space between date and time, up to 7 fractional digits as .NET writes them,
    /// and an optional `Z` or `±HH:MM` offset; without one the time is local).
    pub fn parse(text: &str) -> Option<PaidAt> {
        let text = text.trim_matches(is_xml_space);
        let bytes = text.as_bytes();
        // The fixed-width part must be ASCII, so that slicing it by byte index never splits a character.
        if bytes.len() < 19 || !bytes[..19].is_ascii() || !matches!(bytes[10], b'T' | b't' | b' ') {
            return None;
        }
        let date = parse_fixed(&text[..10], "dddd-dd-dd")?;
        let time = parse_fixed(&text[11..19], "dd:dd:dd")?;
        if date[0] == 0 {
            return None;
        }
        let date = NaiveDate::from_ymd_opt(date[0] as i32, date[1], date[2])?;
        let mut rest = &text[19..];
        let mut nanos = 0u32;
        if let Some(fraction) = rest.strip_prefix('.') {
            let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
            if !(1..=7).contains(&digits) {
                return None;
            }
            let padded = format!("{:0<9}", &fraction[..digits]);
            nanos = padded.parse().ok()?;
            rest = &fraction[digits..];
        }
        let time = NaiveTime::from_hms_nano_opt(time[0], time[1], time[2], nanos)?;
        let local = date.and_time(time);
        if rest.is_empty() {
            return Some(PaidAt::Local(local));
        }
        let offset = if rest.eq_ignore_ascii_case("z") {
            0
        } else {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let hm = parse_fixed(&rest[1..], "dd:dd")?;
            if hm[0] > 14 || hm[1] > 59 || (hm[0] == 14 && hm[1] > 0) {
                return None;
            }
            sign * (hm[0] * 3600 + hm[1] * 60) as i32
        };
        let offset = FixedOffset::east_opt(offset)?;
        offset.from_local_datetime(&local).single().map(PaidAt::Exact)
    }

    /// The instant, reading a local time in `zone`. A time that occurs twice (the hour the
    /// clocks go back) is the first occurrence; a time that does not exist (the hour the clocks
    /// go forward) is read with the offset in force before the gap, so it lands after the gap
    /// by as much as it lies inside it (RFC 9557's and Temporal's "compatible" choice). The
    /// result keeps microseconds, the precision paystate stores.
    pub fn instant(self, zone: Tz) -> Timestamp {
        use chrono::SubsecRound;
        let at = match self {
            PaidAt::Exact(at) => at.with_timezone(&Utc),
            PaidAt::Local(local) => match zone.from_local_datetime(&local) {
                chrono::LocalResult::Single(at) => at.with_timezone(&Utc),
                chrono::LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
                chrono::LocalResult::None => {
                    use chrono::Offset;
                    let before = zone.offset_from_utc_datetime(&(local - chrono::Duration::days(1))).fix();
                    (local - before).and_utc()
                }
            },
        };
        at.trunc_subsecs(6)
    }
}

/// Digits where `pattern` has `d`, the other characters as they are; answers the numbers.
fn parse_fixed(text: &str, pattern: &str) -> Option<Vec<u32>> {
    if text.len() != pattern.len() {
        return None;
    }
    let mut numbers = Vec::new();
    let mut current: Option<u32> = None;
    for (c, p) in text.bytes().zip(pattern.bytes()) {
        if p == b'd' {
            if !c.is_ascii_digit() {
                return None;
            }
            current = Some(current.unwrap_or(0) * 10 + u32::from(c - b'0'));
        } else {
            if c != p {
                return None;
            }
            numbers.extend(current.take());
        }
    }
    numbers.extend(current);
    Some(numbers)
}

fn is_xml_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// A valid `UpdatePaymentOrderParameter`.
#[derive(Clone, Debug, PartialEq)]
pub struct UpdatePaymentOrder {
    /// The order's reference.
    pub order_id: String,
    pub status: StatusId,
    pub paid_at: Option<PaidAt>,
    pub language: Language,
    /// `IsWriteLogSQL`: write this request's SQL statements to the server log.
    pub write_log_sql: bool,
}

/// Why a body was refused, in the caller's language when the body got far enough to name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rejection {
    pub failure: Failure,
    pub language: Language,
}

/// A member's value as sent: a JSON value, or the text of an XML element.
#[derive(Clone, Debug, PartialEq)]
enum Raw {
    Json(serde_json::Value),
    Xml(String),
}

/// The members of the body; `None` when absent, `null` or `i:nil`.
#[derive(Clone, Debug, Default, PartialEq)]
struct Members {
    status_id: Option<Raw>,
    paid_at: Option<Raw>,
    order_id: Option<Raw>,
    language_id: Option<Raw>,
    is_write_log_sql: Option<Raw>,
}

impl Members {
    /// The slot of a JSON member name, compared ignoring ASCII case as ASP.NET binds JSON.
    fn slot_ignoring_case(&mut self, name: &str) -> Option<&mut Option<Raw>> {
        let same = |expected: &str| name.eq_ignore_ascii_case(expected);
        if same("StatusId") {
            Some(&mut self.status_id)
        } else if same("PaidAt") {
            Some(&mut self.paid_at)
        } else if same("OrderId") {
            Some(&mut self.order_id)
        } else if same("LanguageId") {
            Some(&mut self.language_id)
        } else if same("IsWriteLogSQL") {
            Some(&mut self.is_write_log_sql)
        } else {
            None
        }
    }
}

/// Reads and validates a body of the given media type.
pub fn parse(media: MediaType, body: &[u8]) -> Result<UpdatePaymentOrder, Rejection> {
    let members = if media.is_xml() { xml_members(body) } else { json_members(body) };
    let members = members.map_err(|failure| Rejection { failure, language: Language::Nl })?;
    validate(members)
}

fn validate(members: Members) -> Result<UpdatePaymentOrder, Rejection> {
    // The language first, so that every other refusal speaks it.
    let language_id = members.language_id.as_ref().map(integer);
    let language = Language::from_id(language_id.flatten());
    let refuse = |failure| Rejection { failure, language };

    let order_id = members.order_id.as_ref().and_then(text).unwrap_or_default();
    paystate_domain::order::validate_reference("OrderId", &order_id).map_err(|_| refuse(Failure::InvalidOrderId))?;
    let status = members
        .status_id
        .as_ref()
        .and_then(integer)
        .and_then(StatusId::from_id)
        .ok_or(refuse(Failure::InvalidStatusId))?;
    let paid_at = match members.paid_at.as_ref() {
        None => None,
        Some(raw) => match raw {
            Raw::Json(serde_json::Value::String(text)) | Raw::Xml(text) => {
                if text.trim_matches(is_xml_space).is_empty() {
                    // ASP.NET reads an empty string as no date for a nullable DateTime.
                    None
                } else {
                    Some(PaidAt::parse(text).ok_or(refuse(Failure::InvalidPaidAt))?)
                }
            }
            Raw::Json(_) => return Err(refuse(Failure::InvalidPaidAt)),
        },
    };
    if language_id.is_some_and(|id| id.is_none()) {
        return Err(refuse(Failure::InvalidLanguageId));
    }
    let write_log_sql = match members.is_write_log_sql.as_ref() {
        None => false,
        Some(raw) => boolean(raw).ok_or(refuse(Failure::InvalidIsWriteLogSql))?,
    };
    Ok(UpdatePaymentOrder { order_id, status, paid_at, language, write_log_sql })
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

/// The members of a JSON object in document order: names compared ignoring case, a later
/// duplicate replacing an earlier one (as Json.NET populates), unknown members ignored.
impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MembersVisitor;

        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Members;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an UpdatePaymentOrderParameter object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
                let mut members = Members::default();
                while let Some((name, value)) = map.next_entry::<String, serde_json::Value>()? {
                    if let Some(slot) = members.slot_ignoring_case(&name) {
                        *slot = (!value.is_null()).then_some(Raw::Json(value));
                    }
                }
                Ok(members)
            }
        }

        deserializer.deserialize_map(MembersVisitor)
    }
}

fn json_members(body: &[u8]) -> Result<Members, Failure> {
    serde_json::from_slice::<Members>(body).map_err(|error| {
        tracing::debug!(line = error.line(), column = error.column(), "Omnicasa: malformed JSON body");
        Failure::MalformedJson
    })
}

// --- XML --------------------------------------------------------------------------------------

/// Where the XML reader is.
enum Place {
    /// Before the root element.
    Prolog,
    /// Inside the root, between members.
    Root,
    /// Inside a known member, collecting its text.
    Member { slot: Slot, text: String, nil: bool },
    /// Inside an element this endpoint does not know, `depth` levels down.
    Unknown { depth: usize },
    /// After the root element.
    Epilog,
}

#[derive(Clone, Copy)]
enum Slot {
    StatusId,
    PaidAt,
    OrderId,
    LanguageId,
    IsWriteLogSql,
}

impl Slot {
    fn of(name: &str) -> Option<Slot> {
        match name {
            "StatusId" => Some(Slot::StatusId),
            "PaidAt" => Some(Slot::PaidAt),
            "OrderId" => Some(Slot::OrderId),
            "LanguageId" => Some(Slot::LanguageId),
            "IsWriteLogSQL" => Some(Slot::IsWriteLogSql),
            _ => None,
        }
    }

    fn of_members(self, members: &mut Members) -> &mut Option<Raw> {
        match self {
            Slot::StatusId => &mut members.status_id,
            Slot::PaidAt => &mut members.paid_at,
            Slot::OrderId => &mut members.order_id,
            Slot::LanguageId => &mut members.language_id,
            Slot::IsWriteLogSql => &mut members.is_write_log_sql,
        }
    }
}

/// The replacement text of a reference: the five predefined entities and character
/// references. Any other entity is refused: it could only come from a DTD, and none is read.
fn reference(name: &str) -> Result<char, Failure> {
    let predefined = match name {
        "lt" => Some('<'),
        "gt" => Some('>'),
        "amp" => Some('&'),
        "apos" => Some('\''),
        "quot" => Some('"'),
        _ => None,
    };
    if let Some(c) = predefined {
        return Ok(c);
    }
    match quick_xml::events::BytesRef::new(name).resolve_char_ref() {
        Ok(Some(c)) => Ok(c),
        Ok(None) => Err(Failure::XmlEntity),
        Err(_) => Err(Failure::MalformedXml),
    }
}

/// Reads the DataContract XML of `UpdatePaymentOrderParameter`. Refuses any DOCTYPE (so no
/// entity is ever declared, let alone expanded: no billion laughs, no external entities) and
/// any reference other than the five predefined entities and character references.
fn xml_members(body: &[u8]) -> Result<Members, Failure> {
    let text = std::str::from_utf8(body).map_err(|_| Failure::MalformedXml)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = quick_xml::NsReader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut members = Members::default();
    let mut place = Place::Prolog;
    loop {
        let (ours, event) = match reader.read_resolved_event() {
            Ok((namespace, event)) => {
                (matches!(namespace, ResolveResult::Bound(ns) if ns.as_ref() == PARAMETERS_NS), event)
            }
            Err(error) => {
                tracing::debug!(position = reader.error_position(), %error, "Omnicasa: malformed XML body");
                return Err(Failure::MalformedXml);
            }
        };
        match event {
            Event::DocType(_) => return Err(Failure::XmlEntity),
            Event::GeneralRef(name) => {
                let c = reference(&name)?;
                match &mut place {
                    Place::Member { text, .. } => text.push(c),
                    Place::Unknown { .. } => {}
                    // Character data outside a member: not a DataContract document.
                    _ => return Err(Failure::MalformedXml),
                }
            }
            Event::Start(ref element) | Event::Empty(ref element) if !matches!(place, Place::Unknown { .. }) => {
                let empty = matches!(event, Event::Empty(_));
                check_attributes(&reader, element)?;
                let nil = element.attributes().has_nil(reader.resolver());
                let local = element.local_name().into_inner();
                place = match place {
                    Place::Prolog if ours && local == REQUEST_ROOT => {
                        if empty {
                            Place::Epilog
                        } else {
                            Place::Root
                        }
                    }
                    Place::Prolog | Place::Epilog | Place::Member { .. } => return Err(Failure::MalformedXml),
                    Place::Root => match Slot::of(local).filter(|_| ours) {
                        Some(slot) if empty => {
                            *slot.of_members(&mut members) = (!nil).then(|| Raw::Xml(String::new()));
                            Place::Root
                        }
                        Some(slot) => Place::Member { slot, text: String::new(), nil },
                        // DataContractSerializer skips members it does not know.
                        None if empty => Place::Root,
                        None => Place::Unknown { depth: 1 },
                    },
                    Place::Unknown { .. } => unreachable!("guarded above"),
                };
            }
            Event::Start(ref element) | Event::Empty(ref element) => {
                check_attributes(&reader, element)?;
                if let (Place::Unknown { depth }, Event::Start(_)) = (&mut place, &event) {
                    *depth += 1;
                }
            }
            Event::End(_) => {
                place = match place {
                    Place::Root => Place::Epilog,
                    Place::Member { slot, text, nil } => {
                        *slot.of_members(&mut members) = (!nil).then_some(Raw::Xml(text));
                        Place::Root
                    }
                    Place::Unknown { depth: 1 } => Place::Root,
                    Place::Unknown { depth } => Place::Unknown { depth: depth - 1 },
                    Place::Prolog | Place::Epilog => return Err(Failure::MalformedXml),
                };
            }
            Event::Text(content) => {
                let content = content.xml10_content();
                match &mut place {
                    Place::Member { text, .. } => text.push_str(&content),
                    Place::Unknown { .. } => {}
                    _ if content.chars().all(is_xml_space) => {}
                    _ => return Err(Failure::MalformedXml),
                }
            }
            Event::CData(content) => match &mut place {
                Place::Member { text, .. } => text.push_str(&content.xml10_content()),
                Place::Unknown { .. } => {}
                _ => return Err(Failure::MalformedXml),
            },
            Event::Decl(declaration) => {
                let utf8 = match declaration.encoding() {
                    None => true,
                    Some(Ok(encoding)) => encoding.eq_ignore_ascii_case("utf-8"),
                    Some(Err(_)) => false,
                };
                if !utf8 || !matches!(place, Place::Prolog) {
                    return Err(Failure::MalformedXml);
                }
            }
            Event::Comment(_) | Event::PI(_) => {}
            Event::Eof => {
                return match place {
                    Place::Epilog => Ok(members),
                    _ => Err(Failure::MalformedXml),
                };
            }
        }
    }
}

/// Every attribute must be well-formed and reference only predefined entities.
fn check_attributes(
    reader: &quick_xml::NsReader<&[u8]>,
    element: &quick_xml::events::BytesStart<'_>,
) -> Result<(), Failure> {
    for attribute in element.attributes() {
        let attribute = attribute.map_err(|_| Failure::MalformedXml)?;
        if let ResolveResult::Unknown(_) = reader.resolver().resolve_attribute(attribute.key).0 {
            return Err(Failure::MalformedXml);
        }
        attribute.normalized_value(quick_xml::XmlVersion::Implicit1_0).map_err(|error| match error {
            quick_xml::Error::Escape(quick_xml::escape::EscapeError::UnrecognizedEntity(..)) => Failure::XmlEntity,
            _ => Failure::MalformedXml,
        })?;
    }
    Ok(())
}

// --- choosing the payment ---------------------------------------------------------------------

/// The payment a report is about, among an order's receipts: the newest one that is not
/// terminal, else the newest. Refunds and chargebacks (7, 8) are about money that was paid, so
/// they go to the newest paid receipt when there is one.
pub fn target(receipts: &[Payment], status: StatusId) -> Option<&Payment> {
    fn newest<'p>(payments: impl Iterator<Item = &'p Payment>) -> Option<&'p Payment> {
        payments.max_by(|a, b| (a.created_at, a.id.as_str()).cmp(&(b.created_at, b.id.as_str())))
    }
    if status.is_adjustment()
        && let Some(paid) = newest(receipts.iter().filter(|p| p.status == PaymentStatus::Paid))
    {
        return Some(paid);
    }
    newest(receipts.iter().filter(|p| !p.status.is_terminal())).or_else(|| newest(receipts.iter()))
}

// --- the answer -------------------------------------------------------------------------------

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

/// The request body, for the OpenAPI document (the handler reads bodies with [`parse`], which
/// also binds names case-insensitively and reads XML).
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

#[cfg(test)]
mod tests {
    use super::*;

    const XML_SAMPLE: &str = r#"<UpdatePaymentOrderParameter xmlns:i="http://www.w3.org/2001/XMLSchema-instance" xmlns="http://schemas.datacontract.org/2004/07/OmnicasaApiv3.Parameters"> <IsWriteLogSQL>true</IsWriteLogSQL> <LanguageId>4</LanguageId> <OrderId>sample string 3</OrderId> <PaidAt>2025-12-11T02:03:02.5364112+01:00</PaidAt> <StatusId>1</StatusId> </UpdatePaymentOrderParameter>"#;

    fn xml(body: &str) -> Result<UpdatePaymentOrder, Failure> {
        parse(MediaType::ApplicationXml, body.as_bytes()).map_err(|r| r.failure)
    }

    fn json(body: &str) -> Result<UpdatePaymentOrder, Failure> {
        parse(MediaType::ApplicationJson, body.as_bytes()).map_err(|r| r.failure)
    }

    #[test]
    fn the_documents_samples_read_alike() {
        let from_xml = xml(XML_SAMPLE).unwrap();
        let from_json = json(
            r#"{"StatusId": 1, "PaidAt": "2025-12-11T02:03:02.5364112+01:00", "OrderId": "sample string 3", "LanguageId": 4, "IsWriteLogSQL": true}"#,
        )
        .unwrap();
        assert_eq!(from_xml, from_json);
        assert_eq!(from_xml.order_id, "sample string 3");
        assert_eq!(from_xml.status, StatusId::Open);
        assert_eq!(from_xml.language, Language::Nl, "4 is out of range: NL");
        assert!(from_xml.write_log_sql);
        let paid_at = from_xml.paid_at.unwrap().instant(Tz::Europe__Brussels);
        assert_eq!(paid_at.to_rfc3339(), "2025-12-11T01:03:02.536411+00:00");
    }

    #[test]
    fn json_names_bind_ignoring_case_and_later_duplicates_win() {
        let parsed =
            json(r#"{"orderid": "A-1", "STATUSID": "2", "statusId": 3, "languageid": 3, "iswritelogsql": "True", "Extra": [1]}"#)
                .unwrap();
        assert_eq!(parsed.order_id, "A-1");
        assert_eq!(parsed.status, StatusId::Pending);
        assert_eq!(parsed.language, Language::En);
        assert!(parsed.write_log_sql);
        let nulls =
            json(r#"{"OrderId": 42, "StatusId": 2, "PaidAt": null, "LanguageId": null, "IsWriteLogSQL": null}"#)
                .unwrap();
        assert_eq!(nulls.order_id, "42");
        assert_eq!((nulls.paid_at, nulls.language, nulls.write_log_sql), (None, Language::Nl, false));
    }

    #[test]
    fn json_refusals() {
        assert_eq!(json("{"), Err(Failure::MalformedJson));
        assert_eq!(json("[1]"), Err(Failure::MalformedJson));
        assert_eq!(json(r#"{"OrderId": "A"} x"#), Err(Failure::MalformedJson));
        assert_eq!(json(r#"{"StatusId": 2}"#), Err(Failure::InvalidOrderId));
        assert_eq!(
            json(r#"{"OrderId": "A", "StatusId": 2.0}"#).map(|p| p.status),
            json(r#"{"OrderId": "A", "StatusId": 2}"#).map(|p| p.status)
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
        let refused = parse(MediaType::TextJson, br#"{"OrderId": "A", "StatusId": 12, "LanguageId": 2}"#).unwrap_err();
        assert_eq!(refused, Rejection { failure: Failure::InvalidStatusId, language: Language::Fr });
        let malformed = parse(MediaType::TextJson, b"{").unwrap_err();
        assert_eq!(malformed.language, Language::Nl);
    }

    #[test]
    fn xml_members_in_any_order_with_nil_and_unknown_members() {
        let body = r#"<?xml version="1.0" encoding="utf-8"?>
            <!-- a comment -->
            <p:UpdatePaymentOrderParameter xmlns:p="http://schemas.datacontract.org/2004/07/OmnicasaApiv3.Parameters" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
              <p:StatusId> 2 </p:StatusId>
              <p:Unknown><p:OrderId>not this</p:OrderId><x/></p:Unknown>
              <p:PaidAt xsi:nil="true"/>
              <p:LanguageId xsi:nil="true"></p:LanguageId>
              <p:OrderId>R&amp;D &#x31;<![CDATA[<2>]]></p:OrderId>
            </p:UpdatePaymentOrderParameter>"#;
        let parsed = xml(body).unwrap();
        assert_eq!(parsed.order_id, "R&D 1<2>");
        assert_eq!(parsed.status, StatusId::Paid);
        assert_eq!(parsed.paid_at, None);
        assert_eq!(parsed.language, Language::Nl);
        assert!(!parsed.write_log_sql);
    }

    #[test]
    fn xml_refusals() {
        let wrap = |inner: &str| {
            format!(r#"<UpdatePaymentOrderParameter xmlns="{PARAMETERS_NS}">{inner}</UpdatePaymentOrderParameter>"#)
        };
        assert_eq!(xml("<UpdatePaymentOrderParameter>"), Err(Failure::MalformedXml));
        assert_eq!(xml(&wrap("<OrderId>A</StatusId>")), Err(Failure::MalformedXml));
        assert_eq!(
            xml(&format!("{}<x/>", wrap("<OrderId>A</OrderId><StatusId>2</StatusId>"))),
            Err(Failure::MalformedXml)
        );
        assert_eq!(xml(&wrap("text<OrderId>A</OrderId><StatusId>2</StatusId>")), Err(Failure::MalformedXml));
        assert_eq!(xml(&wrap("<OrderId>A<b/></OrderId><StatusId>2</StatusId>")), Err(Failure::MalformedXml));
        assert_eq!(
            xml(
                "<UpdatePaymentOrderParameter><OrderId>A</OrderId><StatusId>2</StatusId></UpdatePaymentOrderParameter>"
            ),
            Err(Failure::MalformedXml),
            "no namespace"
        );
        assert_eq!(xml(r#"<?xml version="1.0" encoding="utf-16"?><a/>"#), Err(Failure::MalformedXml));
        assert_eq!(xml(&wrap("<OrderId>&bogus;</OrderId><StatusId>2</StatusId>")), Err(Failure::XmlEntity));
        assert_eq!(xml(&wrap(r#"<OrderId a="&bogus;">A</OrderId><StatusId>2</StatusId>"#)), Err(Failure::XmlEntity));
        assert_eq!(xml(&wrap("<OrderId>&#0;</OrderId><StatusId>2</StatusId>")), Err(Failure::MalformedXml));
        let laughs = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><UpdatePaymentOrderParameter xmlns="http://schemas.datacontract.org/2004/07/OmnicasaApiv3.Parameters"><OrderId>&lol2;</OrderId><StatusId>2</StatusId></UpdatePaymentOrderParameter>"#;
        assert_eq!(xml(laughs), Err(Failure::XmlEntity));
        let external = r#"<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><UpdatePaymentOrderParameter xmlns="http://schemas.datacontract.org/2004/07/OmnicasaApiv3.Parameters"><OrderId>&xxe;</OrderId><StatusId>2</StatusId></UpdatePaymentOrderParameter>"#;
        assert_eq!(xml(external), Err(Failure::XmlEntity));
        assert_eq!(xml(&wrap("<OrderId>A</OrderId><StatusId>true</StatusId>")), Err(Failure::InvalidStatusId));
        assert_eq!(
            xml(&wrap("<OrderId>A</OrderId><StatusId>2</StatusId><IsWriteLogSQL>True</IsWriteLogSQL>")),
            Err(Failure::InvalidIsWriteLogSql)
        );
        assert_eq!(xml(&wrap("<StatusId>2</StatusId><OrderId/>")), Err(Failure::InvalidOrderId));
    }

    #[test]
    fn non_ascii_in_the_fixed_width_part_is_refused_not_a_panic() {
        for text in [
            "2025-01-01 00:00:0é",
            "2025-01-01 00:00:é0",
            "2025-01-0é 00:00:00",
            "２０２５-01-01 00:00:00",
            "2025-01-01 00:00:00é",
        ] {
            assert_eq!(PaidAt::parse(text), None, "{text}");
        }
    }

    #[test]
    fn paid_at_formats() {
        let brussels = Tz::Europe__Brussels;
        let at = |text: &str| PaidAt::parse(text).map(|p| p.instant(brussels).to_rfc3339());
        // Winter (UTC+1) and summer (UTC+2) wall-clock times.
        assert_eq!(at("2020-11-25 14:30:00").as_deref(), Some("2020-11-25T13:30:00+00:00"));
        assert_eq!(at("2021-07-01 14:30:00").as_deref(), Some("2021-07-01T12:30:00+00:00"));
        assert_eq!(at("2021-07-01T14:30:00").as_deref(), Some("2021-07-01T12:30:00+00:00"));
        assert_eq!(at("2021-07-01T14:30:00Z").as_deref(), Some("2021-07-01T14:30:00+00:00"));
        assert_eq!(at("2021-07-01T14:30:00.1234567-05:30").as_deref(), Some("2021-07-01T20:00:00.123456+00:00"));
        // The clocks go back on 2025-10-26 at 03:00 CEST: 02:30 happens twice; the first counts.
        assert_eq!(at("2025-10-26 02:30:00").as_deref(), Some("2025-10-26T00:30:00+00:00"));
        // The clocks go forward on 2025-03-30 at 02:00 CET: 02:30 does not exist; read as 03:30 CEST.
        assert_eq!(at("2025-03-30 02:30:00").as_deref(), Some("2025-03-30T01:30:00+00:00"));
        assert_eq!(at("2025-03-30 03:30:00").as_deref(), Some("2025-03-30T01:30:00+00:00"));
        for bad in [
            "2020-11-25",
            "2020-11-25 14:30",
            "2020-13-25 14:30:00",
            "2020-02-30 14:30:00",
            "2020-11-25 24:00:00",
            "2020-11-25 14:30:60",
            "2020-11-25T14:30:00.12345678Z",
            "2020-11-25T14:30:00.Z",
            "2020-11-25T14:30:00+15:00",
            "2020-11-25T14:30:00+0100",
            "25/11/2020 14:30:00",
            "0000-01-01 00:00:00",
        ] {
            assert_eq!(PaidAt::parse(bad), None, "{bad}");
        }
        // XML whitespace around the value is not part of it.
        assert_eq!(at("\n  2020-11-25 14:30:00 ").as_deref(), Some("2020-11-25T13:30:00+00:00"));
    }

    #[test]
    fn negotiation_follows_accept_then_the_request() {
        use MediaType::*;
        assert_eq!(negotiate(None, Some(TextXml)), TextXml);
        assert_eq!(negotiate(None, None), ApplicationJson);
        assert_eq!(negotiate(Some("application/xml"), Some(ApplicationJson)), ApplicationXml);
        assert_eq!(negotiate(Some("text/json"), Some(ApplicationXml)), TextJson);
        assert_eq!(negotiate(Some("*/*"), Some(TextXml)), TextXml);
        assert_eq!(negotiate(Some("text/html, application/xhtml+xml"), Some(ApplicationXml)), ApplicationXml);
        assert_eq!(negotiate(Some("application/json;q=0.5, application/xml"), Some(ApplicationJson)), ApplicationXml);
        assert_eq!(negotiate(Some("*/*;q=0.9, application/json;q=0.9"), Some(ApplicationXml)), ApplicationJson);
        assert_eq!(negotiate(Some("text/*"), Some(ApplicationXml)), TextJson);
        assert_eq!(negotiate(Some("APPLICATION/XML; charset=utf-8"), None), ApplicationXml);
    }

    #[test]
    fn content_types() {
        assert_eq!(MediaType::of_content_type("application/json; charset=utf-8"), Some(MediaType::ApplicationJson));
        assert_eq!(MediaType::of_content_type("Text/XML"), Some(MediaType::TextXml));
        assert_eq!(MediaType::of_content_type("application/xml; charset=utf-16"), None);
        assert_eq!(MediaType::of_content_type("application/x-www-form-urlencoded"), None);
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

    #[test]
    fn every_status_id_maps_to_a_command() {
        use PaymentStatus::*;
        let expected = [Open, Paid, Pending, Failed, Expired, Canceled];
        for (id, status) in (1..=6).zip(expected) {
            assert_eq!(
                StatusId::from_id(id).unwrap().command(None),
                PaymentCommand::ReportStatus { status, paid_at: None }
            );
        }
        assert_eq!(
            StatusId::HasRefunds.command(None),
            PaymentCommand::Adjust { kind: Adjustment::Refund, amount: None, missing: MissingAmount::FlagOnly }
        );
        assert_eq!(
            StatusId::HasChargebacks.command(None),
            PaymentCommand::Adjust { kind: Adjustment::Chargeback, amount: None, missing: MissingAmount::FlagOnly }
        );
        assert_eq!(StatusId::from_id(0), None);
        assert_eq!(StatusId::from_id(9), None);
    }
}
