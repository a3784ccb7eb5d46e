//! How values read on a page: money by its currency's ISO 4217 exponent with the code, times in
//! UTC inside `<time>`, statuses as badges, and request bodies pretty-printed (JSON and XML).

use maud::{Markup, html};
use paystate_domain::{Currency, PaymentStatus, Timestamp};

/// `12,345.67 EUR`, `1,500 JPY`, `1.250 KWD`: integer arithmetic only, never through floats.
pub fn money(minor: i64, currency: &Currency) -> String {
    let exponent = currency.exponent();
    let scale = 10u128.pow(exponent);
    let magnitude = minor.unsigned_abs() as u128;
    let (whole, fraction) = (magnitude / scale, magnitude % scale);
    let digits = whole.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    let sign = if minor < 0 { "-" } else { "" };
    if exponent == 0 {
        format!("{sign}{grouped} {}", currency.code())
    } else {
        format!("{sign}{grouped}.{fraction:0width$} {}", currency.code(), width = exponent as usize)
    }
}

/// `12345.67`, `1500`, `1.250`: decimal text in the major unit without grouping or code, for
/// exports; integer arithmetic only.
pub fn decimal(minor: i64, currency: &Currency) -> String {
    let exponent = currency.exponent();
    let scale = 10u128.pow(exponent);
    let magnitude = minor.unsigned_abs() as u128;
    let sign = if minor < 0 { "-" } else { "" };
    if exponent == 0 {
        format!("{sign}{magnitude}")
    } else {
        format!("{sign}{}.{:0width$}", magnitude / scale, magnitude % scale, width = exponent as usize)
    }
}

/// A time in UTC, machine-readable in `datetime` and complete in the hover title.
pub fn time(at: &Timestamp) -> Markup {
    html! {
        time datetime=(at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            title=(at.format("%A %-d %B %Y, %H:%M:%S%.3f UTC")) {
            (at.format("%Y-%m-%d %H:%M UTC"))
        }
    }
}

pub fn status(status: PaymentStatus) -> Markup {
    html! { span class=(format!("badge status-{}", status.as_str())) { (status.as_str()) } }
}

/// A request body as it came, indented when it is JSON or XML.
pub fn pretty_body(body: &str) -> String {
    let trimmed = body.trim_start();
    if (trimmed.starts_with('{') || trimmed.starts_with('['))
        && let Ok(value) = serde_json::from_str::<serde_json::Value>(body)
    {
        return serde_json::to_string_pretty(&value).unwrap_or_else(|_| body.to_owned());
    }
    if trimmed.starts_with('<')
        && let Some(pretty) = pretty_xml(body)
    {
        return pretty;
    }
    body.to_owned()
}

fn pretty_xml(body: &str) -> Option<String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(body);
    reader.config_mut().trim_text(true);
    let mut writer = quick_xml::Writer::new_with_indent(Vec::new(), b' ', 2);
    loop {
        match reader.read_event().ok()? {
            Event::Eof => break,
            event => writer.write_event(event).ok()?,
        }
    }
    String::from_utf8(writer.into_inner()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_follows_the_currency_exponent() {
        let code = |c| Currency::parse(c).unwrap();
        assert_eq!(money(1_234_567, &code("EUR")), "12,345.67 EUR");
        assert_eq!(money(1500, &code("JPY")), "1,500 JPY");
        assert_eq!(money(1250, &code("KWD")), "1.250 KWD");
        assert_eq!(money(-5, &code("EUR")), "-0.05 EUR");
        assert_eq!(money(0, &code("EUR")), "0.00 EUR");
    }

    #[test]
    fn decimals_follow_the_currency_exponent() {
        let code = |c| Currency::parse(c).unwrap();
        assert_eq!(decimal(1_234_567, &code("EUR")), "12345.67");
        assert_eq!(decimal(1500, &code("JPY")), "1500");
        assert_eq!(decimal(1250, &code("KWD")), "1.250");
        assert_eq!(decimal(5, &code("EUR")), "0.05");
        assert_eq!(decimal(i64::MIN, &code("EUR")), "-92233720368547758.08");
    }

    #[test]
    fn bodies_are_indented_when_json_or_xml() {
        assert_eq!(pretty_body(r#"{"a":1}"#), "{\n  \"a\": 1\n}");
        assert!(pretty_body("<a><b>1</b></a>").contains("\n  <b>1</b>"));
        assert_eq!(pretty_body("status=paid"), "status=paid");
    }
}
