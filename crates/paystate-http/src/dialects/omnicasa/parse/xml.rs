//! Omnicasa's request as DataContract XML, read the way DataContractSerializer reads
//! `UpdatePaymentOrderParameter`: the root and its members in the `OmnicasaApiv3.Parameters`
//! namespace, members in any order, unknown members skipped, `i:nil="true"` read as absent. No
//! DOCTYPE and no entity but the five predefined ones are read (no billion laughs, no external
//! entities).

use super::{Fields, Raw, is_xml_space};
use crate::dialects::omnicasa::errors::Failure;
use crate::dialects::omnicasa::wire::{PARAMETERS_NS, REQUEST_ROOT};
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;

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

impl Place {
    /// Where an element that starts here leads: `root` when it is the request's root element,
    /// `slot` when it is a known member; an `empty` one (`<a/>`) is closed at once.
    fn open(
        self,
        root: bool,
        slot: Option<Slot>,
        empty: bool,
        nil: bool,
        fields: &mut Fields,
    ) -> Result<Place, Failure> {
        Ok(match self {
            Place::Prolog if root => {
                if empty {
                    Place::Epilog
                } else {
                    Place::Root
                }
            }
            Place::Prolog | Place::Epilog | Place::Member { .. } => return Err(Failure::MalformedXml),
            Place::Root => match slot {
                Some(slot) if empty => {
                    *slot.of_fields(fields) = (!nil).then(|| Raw::Xml(String::new()));
                    Place::Root
                }
                Some(slot) => Place::Member { slot, text: String::new(), nil },
                // DataContractSerializer skips members it does not know.
                None if empty => Place::Root,
                None => Place::Unknown { depth: 1 },
            },
            // Not reached: `fields` counts the elements inside an unknown one itself.
            Place::Unknown { depth } => Place::Unknown { depth },
        })
    }

    /// Where the end of the current element leads; a member's text is kept when it closes.
    fn close(self, fields: &mut Fields) -> Result<Place, Failure> {
        Ok(match self {
            Place::Root => Place::Epilog,
            Place::Member { slot, text, nil } => {
                *slot.of_fields(fields) = (!nil).then_some(Raw::Xml(text));
                Place::Root
            }
            Place::Unknown { depth: 1 } => Place::Root,
            Place::Unknown { depth } => Place::Unknown { depth: depth - 1 },
            Place::Prolog | Place::Epilog => return Err(Failure::MalformedXml),
        })
    }
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

    fn of_fields(self, fields: &mut Fields) -> &mut Option<Raw> {
        match self {
            Slot::StatusId => &mut fields.status_id,
            Slot::PaidAt => &mut fields.paid_at,
            Slot::OrderId => &mut fields.order_id,
            Slot::LanguageId => &mut fields.language_id,
            Slot::IsWriteLogSql => &mut fields.is_write_log_sql,
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
pub(super) fn fields(body: &[u8]) -> Result<Fields, Failure> {
    let text = std::str::from_utf8(body).map_err(|_| Failure::MalformedXml)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = quick_xml::NsReader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut fields = Fields::default();
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
                let root = ours && local == REQUEST_ROOT;
                place = place.open(root, Slot::of(local).filter(|_| ours), empty, nil, &mut fields)?;
            }
            Event::Start(ref element) | Event::Empty(ref element) => {
                check_attributes(&reader, element)?;
                if let (Place::Unknown { depth }, Event::Start(_)) = (&mut place, &event) {
                    *depth += 1;
                }
            }
            Event::End(_) => place = place.close(&mut fields)?,
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
                    Place::Epilog => Ok(fields),
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

#[cfg(test)]
mod tests {
    use super::super::{UpdatePaymentOrder, update};
    use super::*;
    use crate::dialects::omnicasa::errors::Language;
    use crate::dialects::omnicasa::wire::{MediaType, StatusId};

    fn xml(body: &str) -> Result<UpdatePaymentOrder, Failure> {
        update(MediaType::ApplicationXml, body.as_bytes()).map_err(|r| r.failure)
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
        assert_eq!(parsed.report.reference, "R&D 1<2>");
        assert_eq!(parsed.report.status, StatusId::Paid.report());
        assert_eq!(parsed.report.paid_at, None);
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
}
