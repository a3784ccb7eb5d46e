//! Rules of the request schemas that the handlers' annotations cannot state, applied to the whole
//! document so that it says what the server accepts:
//!
//! - every body refuses a NUL character anywhere (see [`crate::extract::has_nul`]): free-form
//!   JSON is [`JSON_VALUE`], NUL-free strings and keys, and every plain string says so;
//! - value sets the server computes: currencies ([`paystate_domain::Currency`]), event types,
//!   IANA time zones (the tenant's Omnicasa settings);
//! - the tenant's merge patch: `name` and `settings`, with the settings the dialects read.

use paystate_domain::{Currency, EventType};
use serde_json::{Map, Value, json};

/// The component of any JSON value without a NUL character in its strings and keys.
pub const JSON_VALUE: &str = "JsonValue";

/// A string without a NUL character.
pub const NO_NUL: &str = "^[^\\u0000]*$";

/// A string without a control character (Unicode category Cc, as `char::is_control`).
pub const NO_CONTROL: &str = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$";

/// The characters `str::trim` removes (Unicode White_Space), as a regular expression class.
const WHITE_SPACE: &str =
    "[\\t\\n\\u000B\\f\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]";

/// Applies the rules to a serialized document.
pub fn apply(document: &mut Value) {
    let json_value_ref = json!({"$ref": format!("#/components/schemas/{JSON_VALUE}")});
    let schemas = document.pointer_mut("/components/schemas").and_then(Value::as_object_mut).expect("components");
    schemas.insert(
        JSON_VALUE.into(),
        json!({
            "description": "Any JSON value without a NUL character in its strings and property names.",
            "anyOf": [
                {"type": ["null", "boolean", "number"]},
                {"type": "string", "pattern": NO_NUL},
                {"type": "array", "items": json_value_ref},
                {"type": "object", "propertyNames": {"pattern": NO_NUL}, "additionalProperties": json_value_ref},
            ],
        }),
    );
    let currency = json!({"type": "string", "pattern": currency_pattern(),
        "description": "An ISO 4217 code with minor units, in any case (`EUR`, `eur`)."});
    for (schema, property) in [("CreateOrder", "currency"), ("CreatePayment", "currency")] {
        if let Some(target) = schemas.get_mut(schema).and_then(|s| s.pointer_mut(&format!("/properties/{property}"))) {
            let nullable = target["type"].as_array().is_some_and(|types| types.contains(&json!("null")));
            let mut rule = currency.clone();
            if nullable {
                rule["type"] = json!(["string", "null"]);
            }
            *target = rule;
        }
    }
    let events = event_selection();
    for (schema, nullable) in [("CreateEndpoint", false), ("PatchEndpoint", true)] {
        if let Some(target) = schemas.get_mut(schema).and_then(|s| s.pointer_mut("/properties/events")) {
            let mut choices = events["anyOf"].as_array().cloned().unwrap_or_default();
            if nullable {
                choices.push(json!({"type": "null"}));
            }
            let description = target.get("description").cloned();
            *target = json!({"anyOf": choices});
            if let Some(description) = description {
                target["description"] = description;
            }
        }
    }
    let language_tag = json!({"pattern": "^[A-Za-z0-9-]{2,16}$"});
    for schema in ["CreateMethod", "PatchMethod"] {
        if let Some(target) = schemas.get_mut(schema).and_then(|s| s.pointer_mut("/properties/locales/propertyNames")) {
            *target = language_tag.clone();
        }
    }
    if let Some(name) = schemas.get_mut("MethodLocale").and_then(|s| s.pointer_mut("/properties/name")) {
        name["minLength"] = json!(1);
        name["maxLength"] = json!(200);
        name["pattern"] = json!(NO_CONTROL);
    }
    if let Some(description) = schemas.get_mut("MethodLocale").and_then(|s| s.pointer_mut("/properties/description")) {
        description["maxLength"] = json!(2000);
    }
    if let Some(operation) = document.pointer_mut("/paths/~1v1~1tenant/patch/requestBody/content") {
        for content in operation.as_object_mut().into_iter().flat_map(|c| c.values_mut()) {
            content["schema"] = tenant_patch();
        }
    }
    if let Some(parameters) =
        document.pointer_mut("/paths/~1v1~1events~1stream/get/parameters").and_then(Value::as_array_mut)
    {
        for parameter in parameters.iter_mut().filter(|p| p["name"] == "type") {
            parameter["schema"] = json!({"type": ["string", "null"], "pattern": event_list_pattern()});
        }
        // A sequence number is never negative, whether as `after` or as `Last-Event-ID`.
        for parameter in parameters.iter_mut().filter(|p| p["name"] == "Last-Event-ID") {
            parameter["schema"]["minimum"] = json!(0);
        }
    }
    refuse_nul_in_bodies(document);
}

/// Every request body, and every component (they are shared with the bodies), refuses NUL.
fn refuse_nul_in_bodies(document: &mut Value) {
    if let Some(schemas) = document.pointer_mut("/components/schemas").and_then(Value::as_object_mut) {
        for (name, schema) in schemas.iter_mut() {
            if name != JSON_VALUE {
                no_nul(schema);
            }
        }
    }
    let Some(paths) = document.pointer_mut("/paths").and_then(Value::as_object_mut) else { return };
    for item in paths.values_mut().filter_map(Value::as_object_mut) {
        for operation in item.values_mut() {
            let Some(contents) = operation.pointer_mut("/requestBody/content").and_then(Value::as_object_mut) else {
                continue;
            };
            for content in contents.values_mut() {
                if let Some(schema) = content.get_mut("schema") {
                    no_nul(schema);
                }
            }
        }
    }
}

fn no_nul(schema: &mut Value) {
    let Some(object) = schema.as_object_mut() else { return };
    if object.contains_key("$ref") || object.contains_key("enum") || object.contains_key("const") {
        return;
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(choices) = object.get_mut(key).and_then(Value::as_array_mut) {
            choices.iter_mut().for_each(no_nul);
        }
    }
    let types: Vec<String> = match object.get("type") {
        Some(Value::String(kind)) => vec![kind.clone()],
        Some(Value::Array(kinds)) => kinds.iter().filter_map(|k| k.as_str().map(str::to_owned)).collect(),
        _ => vec![],
    };
    let combined = ["anyOf", "oneOf", "allOf"].iter().any(|key| object.contains_key(*key));
    if types.is_empty() && !combined {
        // Any value at all.
        object.insert("$ref".into(), json!(format!("#/components/schemas/{JSON_VALUE}")));
        return;
    }
    if types.iter().any(|t| t == "string") && !object.contains_key("pattern") && !object.contains_key("format") {
        object.insert("pattern".into(), json!(NO_NUL));
    }
    if types.iter().any(|t| t == "object") {
        if let Some(properties) = object.get_mut("properties").and_then(Value::as_object_mut) {
            properties.values_mut().for_each(no_nul);
        }
        match object.get_mut("additionalProperties") {
            Some(Value::Bool(false)) => {}
            Some(Value::Object(_)) => {
                object.get_mut("additionalProperties").map(no_nul);
                object.entry("propertyNames").or_insert_with(|| json!({"pattern": NO_NUL}));
            }
            _ => {
                object.insert(
                    "additionalProperties".into(),
                    json!({"$ref": format!("#/components/schemas/{JSON_VALUE}")}),
                );
                object.insert("propertyNames".into(), json!({"pattern": NO_NUL}));
            }
        }
        if let Some(names) = object.get_mut("propertyNames").and_then(Value::as_object_mut)
            && !names.contains_key("pattern")
        {
            names.remove("type");
            names.insert("pattern".into(), json!(NO_NUL));
        }
    }
    if types.iter().any(|t| t == "array") {
        match object.get_mut("items") {
            Some(items) => no_nul(items),
            None => {
                object.insert("items".into(), json!({"$ref": format!("#/components/schemas/{JSON_VALUE}")}));
            }
        }
    }
}

/// Every code [`Currency::parse`] accepts, in any case: `^(?:[Ee][Uu][Rr]|…)$`.
fn currency_pattern() -> String {
    let letters = b'A'..=b'Z';
    let mut codes = Vec::new();
    for a in letters.clone() {
        for b in letters.clone() {
            for c in letters.clone() {
                let code = String::from_utf8(vec![a, b, c]).expect("ASCII");
                if Currency::parse(&code).is_ok() {
                    codes.push(code);
                }
            }
        }
    }
    let alternatives: Vec<String> = codes
        .iter()
        .map(|code| code.chars().map(|c| format!("[{c}{}]", c.to_ascii_lowercase())).collect::<String>())
        .collect();
    format!("^(?:{})$", alternatives.join("|"))
}

fn event_names() -> Vec<&'static str> {
    EventType::ALL.iter().map(|t| t.as_str()).collect()
}

/// `type` of the event stream: event types separated by commas, each possibly padded with white space.
fn event_list_pattern() -> String {
    let names = event_names().iter().map(|name| name.replace('.', "\\.")).collect::<Vec<_>>().join("|");
    let one = format!("{WHITE_SPACE}*(?:{names}){WHITE_SPACE}*");
    format!("^{one}(?:,{one})*$")
}

/// An endpoint's events: `["*"]`, or a non-empty list of event types (repeats are dropped).
fn event_selection() -> Value {
    json!({"anyOf": [
        {"type": "array", "items": {"const": "*"}, "minItems": 1, "maxItems": 1},
        {"type": "array", "items": {"type": "string", "enum": event_names()}, "minItems": 1},
    ]})
}

/// The tenant's merge patch: its `name` and its `settings`, with the dialects' settings checked
/// as [`paystate_domain::dialect_settings::check`] does; `null` removes a setting.
fn tenant_patch() -> Value {
    let json_value = json!({"$ref": format!("#/components/schemas/{JSON_VALUE}")});
    let section = |properties: Value| {
        json!({"type": ["object", "null"], "properties": properties,
            "propertyNames": {"pattern": NO_NUL}, "additionalProperties": json_value})
    };
    let zones: Vec<&str> = chrono_tz::TZ_VARIANTS.iter().map(|zone| zone.name()).collect();
    let name_character = "[^\\u0000-\\u001F\\u007F-\\u009F]";
    let visible = format!("[^\\u0000-\\u001F\\u007F-\\u009F{}]", &WHITE_SPACE[1..WHITE_SPACE.len() - 1]);
    let mut settings = Map::new();
    settings.insert(
        "omnicasa".into(),
        section(json!({
            "timezone": {"type": ["string", "null"], "enum": zones.iter().map(|z| json!(z)).chain([Value::Null]).collect::<Vec<_>>()},
            "create_unknown_orders": {"type": ["boolean", "null"]},
            "currency": {"type": ["string", "null"], "pattern": currency_pattern()},
        })),
    );
    settings.insert(
        "norce".into(),
        section(json!({"merchants": {"type": ["array", "null"], "items": {"type": "string", "minLength": 1, "pattern": NO_NUL}}})),
    );
    settings.insert(
        "gormic".into(),
        section(json!({"organization_id": {"type": ["string", "null"], "minLength": 1, "pattern": NO_NUL}})),
    );
    settings.insert("teljoy".into(), section(json!({"verify_trust": {"type": ["boolean", "null"]}})));
    json!({
        "type": "object",
        "description": "An RFC 7396 merge patch of the tenant: `null` removes a setting.",
        "properties": {
            "name": {"type": "string", "pattern": format!("^{name_character}*{visible}{name_character}*$"),
                "description": "1 to 200 characters once trimmed, without control characters."},
            "settings": {"type": ["object", "null"], "properties": Value::Object(settings),
                "propertyNames": {"pattern": NO_NUL}, "additionalProperties": json_value},
        },
        "additionalProperties": false,
    })
}
