//! Money: integer minor units with an ISO 4217 currency.
//!
//! Amounts never pass through floating point arithmetic. Dialects that carry major units (Norce's
//! JSON numbers, Gormic's decimals) convert here, exactly, from the number's own text (never a
//! double), by the currency's exponent: JPY has no decimals, EUR two, KWD three. More precision
//! than the currency has is an error, not a rounding.

use crate::DomainError;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// The largest amount paystate accepts, in minor units. Below 10^15 every amount and its major-unit
/// form survive a round trip through an IEEE double, which JSON clients use for numbers.
pub const MAX_AMOUNT_MINOR: i64 = 999_999_999_999_999;

/// An active ISO 4217 currency with minor units (metals and funds codes without an exponent are refused).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency(iso_currency::Currency);

impl Currency {
    /// Parses a three-letter code, case-insensitively ("eur" is EUR).
    pub fn parse(code: &str) -> Result<Self, DomainError> {
        let unknown = || DomainError::UnknownCurrency(code.chars().take(8).collect());
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(unknown());
        }
        let currency = iso_currency::Currency::from_code(&code.to_ascii_uppercase()).ok_or_else(unknown)?;
        currency.exponent().ok_or_else(unknown)?;
        Ok(Self(currency))
    }

    pub fn code(&self) -> &'static str {
        self.0.code()
    }

    /// Number of decimals of the minor unit (2 for EUR, 0 for JPY, 3 for KWD).
    pub fn exponent(&self) -> u32 {
        u32::from(self.0.exponent().unwrap_or(0))
    }

    fn scale(&self) -> i64 {
        10_i64.pow(self.exponent())
    }

    /// Converts a major-unit decimal text ("199.95") into minor units, exactly.
    pub fn minor_from_decimal_str(&self, text: &str) -> Result<i64, DomainError> {
        let (int_part, frac_part) = text.split_once('.').unwrap_or((text, "0"));
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(int_part) || !digits(frac_part) {
            return Err(DomainError::Invalid {
                field: "amount",
                message: "must be a non-negative decimal number".into(),
            });
        }
        let frac_part = frac_part.trim_end_matches('0');
        if frac_part.len() > self.exponent() as usize {
            return Err(DomainError::TooManyDecimals { currency: self.code().into(), exponent: self.exponent() });
        }
        let int_part = int_part.trim_start_matches('0');
        if int_part.len() > 15 {
            return Err(DomainError::AmountOutOfRange);
        }
        let whole: i64 =
            if int_part.is_empty() { 0 } else { int_part.parse().map_err(|_| DomainError::AmountOutOfRange)? };
        let padded = format!("{frac_part:0<width$}", width = self.exponent() as usize);
        let frac: i64 =
            if padded.is_empty() { 0 } else { padded.parse().map_err(|_| DomainError::AmountOutOfRange)? };
        let minor =
            whole.checked_mul(self.scale()).and_then(|m| m.checked_add(frac)).ok_or(DomainError::AmountOutOfRange)?;
        check_range(minor)
    }

    /// Converts a JSON number, as written (`199.95`, `1.5e2`, `1e-400`), from major units into
    /// minor units, exactly: its own text is read, never a double, so a number with more
    /// precision than the currency has is refused rather than rounded.
    pub fn minor_from_json_number(&self, text: &str) -> Result<i64, DomainError> {
        if text.starts_with('-') {
            return Err(DomainError::Invalid { field: "amount", message: "must not be negative".into() });
        }
        let malformed = || DomainError::Invalid { field: "amount", message: "must be a decimal number".into() };
        let (mantissa, exponent) = match text.split_once(['e', 'E']) {
            Some((mantissa, exponent)) => {
                let exponent = exponent.strip_prefix('+').unwrap_or(exponent);
                // Beyond a few dozen places either way, no amount fits; the bound keeps the
                // digits built below small.
                let exponent: i32 = exponent.parse().map_err(|_| malformed())?;
                (mantissa, exponent.clamp(-64, 64))
            }
            None => (text, 0),
        };
        let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let digits = format!("{int_part}{frac_part}");
        if int_part.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(malformed());
        }
        // The decimal point sits `point` digits into `digits`.
        let point = int_part.len() as i64 + i64::from(exponent);
        let decimal = if point <= 0 {
            format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
        } else if point as usize >= digits.len() {
            format!("{digits}{}", "0".repeat(point as usize - digits.len()))
        } else {
            format!("{}.{}", &digits[..point as usize], &digits[point as usize..])
        };
        self.minor_from_decimal_str(&decimal)
    }

    /// Minor units as the shortest exact major-unit decimal text (1250 EUR is `12.5`, 1000 is
    /// `10`, 5 JPY is `5`), for dialects that speak JSON numbers in major units.
    pub fn major_text(&self, minor: i64) -> String {
        let scale = self.scale();
        let (sign, magnitude) = if minor < 0 { ("-", minor.unsigned_abs()) } else { ("", minor as u64) };
        let (whole, fraction) = (magnitude / scale as u64, magnitude % scale as u64);
        if fraction == 0 {
            return format!("{sign}{whole}");
        }
        let fraction = format!("{fraction:0width$}", width = self.exponent() as usize);
        format!("{sign}{whole}.{}", fraction.trim_end_matches('0'))
    }
}

impl Currency {
    /// Minor units as major-unit decimal text with all of the currency's decimals (1250 EUR is
    /// `12.50`, 5 JPY is `5`, 1 KWD is `0.001`), as a .NET `decimal` of the currency's scale
    /// writes itself.
    pub fn major_text_fixed(&self, minor: i64) -> String {
        let scale = self.scale();
        let (sign, magnitude) = if minor < 0 { ("-", minor.unsigned_abs()) } else { ("", minor as u64) };
        let (whole, fraction) = (magnitude / scale as u64, magnitude % scale as u64);
        match self.exponent() as usize {
            0 => format!("{sign}{whole}"),
            width => format!("{sign}{whole}.{fraction:0width$}"),
        }
    }
}

/// Checks a minor-unit amount given by a caller: not negative, not above [`MAX_AMOUNT_MINOR`].
pub fn check_range(minor: i64) -> Result<i64, DomainError> {
    if (0..=MAX_AMOUNT_MINOR).contains(&minor) { Ok(minor) } else { Err(DomainError::AmountOutOfRange) }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = String::deserialize(deserializer)?;
        Currency::parse(&code).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cur(code: &str) -> Currency {
        Currency::parse(code).unwrap()
    }

    #[test]
    fn exponents_follow_iso_4217() {
        assert_eq!(cur("EUR").exponent(), 2);
        assert_eq!(cur("jpy").exponent(), 0);
        assert_eq!(cur("KWD").exponent(), 3);
        assert_eq!(cur("eur").code(), "EUR");
    }

    #[test]
    fn unknown_and_non_monetary_codes_are_refused() {
        for code in ["XXQ", "EURO", "", "E1R", "XAU", "€€€", "EU\0"] {
            assert!(Currency::parse(code).is_err(), "{code:?}");
        }
    }

    #[test]
    fn decimal_text_converts_exactly() {
        assert_eq!(cur("EUR").minor_from_decimal_str("199.95"), Ok(19995));
        assert_eq!(cur("EUR").minor_from_decimal_str("199.9"), Ok(19990));
        assert_eq!(cur("EUR").minor_from_decimal_str("199.950"), Ok(19995));
        assert_eq!(cur("EUR").minor_from_decimal_str("0.01"), Ok(1));
        assert_eq!(cur("JPY").minor_from_decimal_str("1200"), Ok(1200));
        assert_eq!(cur("KWD").minor_from_decimal_str("1.234"), Ok(1234));
    }

    #[test]
    fn too_many_decimals_is_an_error_not_a_rounding() {
        assert!(matches!(cur("EUR").minor_from_decimal_str("1.001"), Err(DomainError::TooManyDecimals { .. })));
        assert!(matches!(cur("JPY").minor_from_decimal_str("1.5"), Err(DomainError::TooManyDecimals { .. })));
        assert!(matches!(cur("EUR").minor_from_json_number("199.955"), Err(DomainError::TooManyDecimals { .. })));
    }

    #[test]
    fn malformed_negative_huge_and_nan_amounts_are_refused() {
        for text in ["", ".", "1.", "-1", "1e3", "1,00", " 1", "0x10", "1.2.3"] {
            assert!(cur("EUR").minor_from_decimal_str(text).is_err(), "{text:?}");
        }
        assert_eq!(cur("EUR").minor_from_decimal_str("99999999999999999999"), Err(DomainError::AmountOutOfRange));
        assert_eq!(cur("EUR").minor_from_decimal_str("10000000000000"), Err(DomainError::AmountOutOfRange));
        for text in ["NaN", "Infinity", "-0.5", "-1", "1e300", "1e", "e5", ".5", "1.2.3e1", "0x1", "1e99999999999"] {
            assert!(cur("EUR").minor_from_json_number(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn json_numbers_convert_from_their_own_text() {
        let eur = cur("EUR");
        assert_eq!(eur.minor_from_json_number("199.95"), Ok(19995));
        assert_eq!(eur.minor_from_json_number("10"), Ok(1000));
        assert_eq!(eur.minor_from_json_number("1.5e2"), Ok(15000));
        assert_eq!(eur.minor_from_json_number("1995E-2"), Ok(1995));
        assert_eq!(eur.minor_from_json_number("0.1"), Ok(10));
        // What a double would round: refused, not rounded.
        for text in ["9.999999999999999999", "10.000000000000000001", "1e-400", "0.30000000000000004"] {
            assert!(matches!(eur.minor_from_json_number(text), Err(DomainError::TooManyDecimals { .. })), "{text}");
        }
        assert_eq!(eur.minor_from_json_number("1e20"), Err(DomainError::AmountOutOfRange));
        assert_eq!(cur("KWD").minor_from_json_number("1.234"), Ok(1234));
    }

    #[test]
    fn major_text_is_exact_and_round_trips() {
        assert_eq!(cur("EUR").major_text(1250), "12.5");
        assert_eq!(cur("EUR").major_text(1000), "10");
        assert_eq!(cur("EUR").major_text(1), "0.01");
        assert_eq!(cur("JPY").major_text(5), "5");
        assert_eq!(cur("KWD").major_text(1001), "1.001");
        assert_eq!(cur("EUR").major_text_fixed(1250), "12.50");
        assert_eq!(cur("EUR").major_text_fixed(7), "0.07");
        assert_eq!(cur("JPY").major_text_fixed(5), "5");
        assert_eq!(cur("KWD").major_text_fixed(1000), "1.000");
        for minor in [0, 1, 99, 19995, MAX_AMOUNT_MINOR] {
            assert_eq!(cur("EUR").minor_from_json_number(&cur("EUR").major_text(minor)), Ok(minor));
        }
    }

    #[test]
    fn range_check() {
        assert!(check_range(-1).is_err());
        assert!(check_range(MAX_AMOUNT_MINOR + 1).is_err());
        assert_eq!(check_range(0), Ok(0));
    }
}
