//! The one lenient JSON reader of the dialects.
//!
//! Vendor bodies are read member by member rather than bound to a struct: `null` counts as
//! absent, members a route does not use are ignored unless it asks for [`Members::only`], names
//! may be matched ignoring case (ASP.NET's binder does), and what is refused is named by its path
//! (`payments[0].amount`), so that each dialect can word it in its own error format.

use serde_json::{Map, Value};

/// What a reader refused, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused {
    /// The member's path from the body's root: `total.includingVat`, `payments[2].state`.
    pub path: String,
    pub problem: Problem,
}

/// Why a member was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// A required member is absent or null.
    Required,
    /// The member has another JSON type.
    Expected(Kind),
    /// The object has a member the route does not know (only with [`Members::only`]).
    Unknown(String),
    /// One member given twice in different spellings (only when ignoring case).
    Repeated,
}

/// A JSON type, as a member is expected to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    String,
    Object,
    Array,
    Boolean,
    Number,
}

impl Refused {
    fn new(path: String, problem: Problem) -> Self {
        Refused { path, problem }
    }

    /// The plain English sentence after the path: `must be a string`, `is required`.
    pub fn message(&self) -> String {
        match &self.problem {
            Problem::Required => "is required".into(),
            Problem::Expected(Kind::String) => "must be a string".into(),
            Problem::Expected(Kind::Object) => "must be a JSON object".into(),
            Problem::Expected(Kind::Array) => "must be a JSON array".into(),
            Problem::Expected(Kind::Boolean) => "must be true or false".into(),
            Problem::Expected(Kind::Number) => "must be a JSON number".into(),
            Problem::Unknown(name) => {
                let name: String = name.chars().take(64).collect();
                format!("has an unknown member {name:?}")
            }
            Problem::Repeated => "was given more than once".into(),
        }
    }
}

/// The members of one JSON object under a path.
#[derive(Clone, Copy)]
pub struct Members<'a> {
    map: &'a Map<String, Value>,
    prefix: &'a str,
    ignore_case: bool,
}

impl<'a> Members<'a> {
    /// The members of the body's root object.
    pub fn root(map: &'a Map<String, Value>) -> Self {
        Members { map, prefix: "", ignore_case: false }
    }

    /// The members of an object found at `prefix` (`payments[0]`); `prefix` must outlive them.
    pub fn at(map: &'a Map<String, Value>, prefix: &'a str) -> Self {
        Members { map, prefix, ignore_case: false }
    }

    /// Names match whatever their case (`trust_seed`, `TRUST_SEED`); one name given twice in
    /// different spellings is refused rather than guessed.
    pub fn ignoring_case(self) -> Self {
        Members { ignore_case: true, ..self }
    }

    /// The path of a member of this object.
    pub fn path(&self, key: &str) -> String {
        if self.prefix.is_empty() { key.to_owned() } else { format!("{}.{key}", self.prefix) }
    }

    /// Refuses any member not in `known` (the first one found, by its name).
    pub fn only(&self, known: &[&str]) -> Result<(), Refused> {
        let known =
            |name: &str| known.iter().any(|k| if self.ignore_case { k.eq_ignore_ascii_case(name) } else { *k == name });
        match self.map.keys().find(|name| !known(name)) {
            Some(unknown) => Err(Refused::new(self.prefix.to_owned(), Problem::Unknown(unknown.clone()))),
            None => Ok(()),
        }
    }

    /// The member as sent, `null` included; `None` when absent.
    pub fn raw(&self, key: &str) -> Result<Option<&'a Value>, Refused> {
        if !self.ignore_case {
            return Ok(self.map.get(key));
        }
        let mut found = self.map.iter().filter(|(name, _)| name.eq_ignore_ascii_case(key)).map(|(_, value)| value);
        match (found.next(), found.next()) {
            (_, Some(_)) => Err(Refused::new(self.path(key), Problem::Repeated)),
            (value, None) => Ok(value),
        }
    }

    /// The member, `null` counting as absent.
    pub fn get(&self, key: &str) -> Result<Option<&'a Value>, Refused> {
        Ok(self.raw(key)?.filter(|value| !value.is_null()))
    }

    /// A member that must be present (not null).
    pub fn required(&self, key: &str) -> Result<&'a Value, Refused> {
        self.get(key)?.ok_or_else(|| Refused::new(self.path(key), Problem::Required))
    }

    pub fn string(&self, key: &str) -> Result<Option<&'a str>, Refused> {
        self.typed(key, Kind::String, Value::as_str)
    }

    pub fn required_string(&self, key: &str) -> Result<&'a str, Refused> {
        self.string(key)?.ok_or_else(|| Refused::new(self.path(key), Problem::Required))
    }

    pub fn object(&self, key: &str) -> Result<Option<&'a Map<String, Value>>, Refused> {
        self.typed(key, Kind::Object, Value::as_object)
    }

    pub fn array(&self, key: &str) -> Result<Option<&'a Vec<Value>>, Refused> {
        self.typed(key, Kind::Array, Value::as_array)
    }

    pub fn boolean(&self, key: &str) -> Result<Option<bool>, Refused> {
        self.typed(key, Kind::Boolean, Value::as_bool)
    }

    /// A number as its own text (never a double: serde_json keeps it, `arbitrary_precision`).
    pub fn number(&self, key: &str) -> Result<Option<&'a serde_json::Number>, Refused> {
        self.typed(key, Kind::Number, |value| match value {
            Value::Number(number) => Some(number),
            _ => None,
        })
    }

    fn typed<T>(&self, key: &str, kind: Kind, read: impl Fn(&'a Value) -> Option<T>) -> Result<Option<T>, Refused> {
        match self.get(key)? {
            None => Ok(None),
            Some(value) => read(value).map(Some).ok_or_else(|| Refused::new(self.path(key), Problem::Expected(kind))),
        }
    }
}

/// The path of the `index`th item of the array at `path`: `payments[2]`.
pub fn item(path: &str, index: usize) -> String {
    format!("{path}[{index}]")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn members_are_type_checked_and_named_by_path() {
        let body = object(json!({"id": "o1", "total": {"includingVat": "12"}, "lines": null, "flag": 1}));
        let root = Members::root(&body);
        assert_eq!(root.string("id"), Ok(Some("o1")));
        assert_eq!(root.array("lines"), Ok(None), "null is absent");
        assert_eq!(root.string("absent"), Ok(None));
        let refused = root.boolean("flag").unwrap_err();
        assert_eq!((refused.path.as_str(), refused.message()), ("flag", "must be true or false".into()));
        let total = root.object("total").unwrap().unwrap();
        let refused = Members::at(total, "total").number("includingVat").unwrap_err();
        assert_eq!((refused.path.as_str(), refused.problem), ("total.includingVat", Problem::Expected(Kind::Number)));
        let refused = root.required_string("lines").unwrap_err();
        assert_eq!((refused.path.as_str(), refused.message()), ("lines", "is required".into()));
        assert_eq!(item("payments", 2), "payments[2]");
    }

    #[test]
    fn names_may_match_ignoring_case_but_not_twice() {
        let body = object(json!({"TRUST_seed": "a", "Id": "x", "id": "y"}));
        let members = Members::root(&body).ignoring_case();
        assert_eq!(members.string("trust_Seed"), Ok(Some("a")));
        assert_eq!(members.string("ID").unwrap_err().problem, Problem::Repeated);
        assert_eq!(Members::root(&body).string("trust_seed"), Ok(None), "case counts unless ignored");
    }

    #[test]
    fn unknown_members_are_refused_only_when_asked() {
        let body = object(json!({"params": {}, "extra": 1}));
        let members = Members::root(&body);
        assert!(members.only(&["params", "extra"]).is_ok());
        let refused = members.only(&["params"]).unwrap_err();
        assert_eq!(refused.problem, Problem::Unknown("extra".into()));
        assert_eq!(refused.message(), "has an unknown member \"extra\"");
    }
}
