//! Rules of the request schemas that the handlers' annotations cannot state, applied to the whole
//! document so that it says what the server accepts:
//!
//! - every body refuses a NUL character anywhere (see [`crate::extract::has_nul`]): free-form
//!   JSON is [`JSON_VALUE`], NUL-free strings and keys, and every plain string says so;
//! - value sets the server computes: currencies ([`paystate_domain::Currency`]), event types,
//!   IANA time zones (the tenant's Omnicasa settings);
//! - the tenant's merge patch: `name` and `settings`, with the settings the dialects read.

use paystate_domain::{Currency, EventType, Source};
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
    for (schema, property) in [
        ("CreateOrder", "currency"),
        ("CreatePayment", "currency"),
        ("NorceOrder", "currency"),
        ("NorcePayment", "currency"),
    ] {
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
    text_rules(schemas);
    gormic_rules(schemas);
    norce_vocabulary(schemas);
    omnicasa_xml(schemas);
    if let Some(operation) = document.pointer_mut("/paths/~1v1~1tenant/patch/requestBody/content") {
        for content in operation.as_object_mut().into_iter().flat_map(|c| c.values_mut()) {
            content["schema"] = tenant_patch();
        }
    }
    if let Some(parameters) =
        document.pointer_mut("/paths/~1v1~1events~1stream/get/parameters").and_then(Value::as_array_mut)
    {
        for parameter in parameters.iter_mut().filter(|p| p["name"] == "type") {
            parameter["schema"] = json!({"type": "string", "pattern": event_list_pattern()});
        }
        // A sequence number is never negative, whether as `after` or as `Last-Event-ID`; the
        // header is read as an integer with white space around it allowed.
        for parameter in parameters.iter_mut().filter(|p| p["name"] == "Last-Event-ID") {
            parameter["schema"]["minimum"] = json!(0);
        }
    }
    norce_ids(document);
    omnicasa_read(document);
    parameters_are_never_null(document);
    // Rotating a secret takes an optional body (`{}` when left out), never `null`.
    if let Some(body) = document.pointer_mut("/paths/~1v1~1webhook-endpoints~1{id}~1rotate-secret/post/requestBody") {
        body["required"] = json!(false);
    }
    refuse_nul_in_bodies(document);
    for media in ["application~1xml", "text~1xml"] {
        let pointer = format!("/paths/~1payment~1update-order~1{{secretKey}}/post/requestBody/content/{media}/schema");
        if let Some(schema) = document.pointer_mut(&pointer) {
            *schema = json!({"$ref": format!("#/components/schemas/{OMNICASA_XML}")});
        }
    }
}

/// The Omnicasa read side's `OrderId`, as the update's: 1 to 200 characters without control
/// characters.
fn omnicasa_read(document: &mut Value) {
    let pointer = "/paths/~1payment~1get-order~1{secretKey}/get/parameters";
    let Some(parameters) = document.pointer_mut(pointer).and_then(Value::as_array_mut) else { return };
    for parameter in parameters.iter_mut().filter(|p| p["name"] == "OrderId") {
        parameter["schema"] = json!({"type": "string"});
        for (key, value) in reference().as_object().into_iter().flatten() {
            parameter["schema"][key] = value.clone();
        }
        parameter["required"] = json!(true);
    }
}

/// Norce's states, read case-insensitively (its schema writes `intent`, its samples `Intent`):
/// each enumeration becomes a pattern that admits every casing of the same words.
fn norce_vocabulary(schemas: &mut Map<String, Value>) {
    for name in ["NorcePaymentState", "NorceOrderStatus"] {
        let Some(schema) = schemas.get_mut(name).and_then(Value::as_object_mut) else { continue };
        let Some(Value::Array(words)) = schema.remove("enum") else { continue };
        let words: Vec<&str> = words.iter().filter_map(Value::as_str).collect();
        schema.insert("pattern".into(), json!(format!("(?i)^({})$", words.join("|"))));
    }
}

/// Norce's ids, as `dialects::norce::parse::check_id` reads them: 1 to 64 characters
/// without `:` or control characters; the headers are visible ASCII besides (a header value is
/// read as ASCII text, with white space around it trimmed).
fn norce_ids(document: &mut Value) {
    let pointer = "/paths/~1api~1checkout~1v1~1callback~1orders~1{order_id}~1payments~1{payment_id}~1update-payment/post/parameters";
    let Some(parameters) = document.pointer_mut(pointer).and_then(Value::as_array_mut) else { return };
    for parameter in parameters {
        let rule = match parameter["name"].as_str() {
            Some("order_id" | "payment_id") => json!({"type": "string", "minLength": 1, "maxLength": 64,
                "pattern": "^[^:\\u0000-\\u001F\\u007F-\\u009F]*$"}),
            Some("x-merchant" | "x-channel") => json!({"type": "string", "pattern": "^[!-9;-~]{1,64}$"}),
            _ => continue,
        };
        parameter["schema"] = rule;
    }
}

/// Omnicasa's `PaidAt`, as `dialects::omnicasa::parse::paid_at` reads it: white
/// space only (no date), or `yyyy-MM-dd HH:mm:ss` (`T` or a space between), up to 7 fractional
/// digits, an optional `Z` or `±HH:MM` offset up to 14:00. February stops at the 28th here (the
/// 29th of a leap year is accepted too, which a regular expression cannot tell).
fn omnicasa_paid_at() -> String {
    let space = "[ \\t\\r\\n]*";
    let year = "(?!0000)[0-9]{4}";
    let month_day = "(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))";
    let time = "(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\\.[0-9]{1,7})?";
    let offset = "(?:[Zz]|[+-](?:(?:0[0-9]|1[0-3]):[0-5][0-9]|14:00))?";
    format!("^{space}(?:{year}-{month_day}[Tt ]{time}{offset}{space})?$")
}

/// The XML form of Omnicasa's body.
const OMNICASA_XML: &str = "UpdatePaymentOrderParameterXml";

/// Omnicasa's body as DataContract XML: the root element in its namespace, and no member is
/// `null` (XML has no null: a member is left out, or marked `i:nil`).
fn omnicasa_xml(schemas: &mut Map<String, Value>) {
    let Some(mut xml) = schemas.get("UpdatePaymentOrderParameter").cloned() else { return };
    xml["xml"] = json!({"name": "UpdatePaymentOrderParameter", "namespace": OMNICASA_NAMESPACE});
    for property in xml["properties"].as_object_mut().into_iter().flat_map(|p| p.values_mut()) {
        if let Some(types) = property.get_mut("type").and_then(Value::as_array_mut) {
            types.retain(|t| t != "null");
            if types.len() == 1 {
                property["type"] = types[0].clone();
            }
        }
    }
    schemas.insert(OMNICASA_XML.into(), xml);
}

/// A parameter (query, header, path) is a string on the wire: it can be left out, never be null
/// (`?limit=null` is the text `null`). utoipa writes an optional parameter as nullable; this
/// takes `null` out of every parameter's schema.
fn parameters_are_never_null(document: &mut Value) {
    fn not_null(schema: &mut Value) {
        if let Some(types) = schema.get_mut("type").and_then(Value::as_array_mut) {
            types.retain(|t| t != "null");
            if types.len() == 1 {
                schema["type"] = types[0].clone();
            }
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(choices) = schema.get_mut(key).and_then(Value::as_array_mut) {
                choices.retain(|choice| choice != &json!({"type": "null"}));
                if choices.len() == 1 {
                    let only = choices.remove(0);
                    schema.as_object_mut().expect("a schema").remove(key);
                    for (k, v) in only.as_object().into_iter().flatten() {
                        schema[k] = v.clone();
                    }
                }
            }
        }
    }
    let Some(paths) = document.pointer_mut("/paths").and_then(Value::as_object_mut) else { return };
    for item in paths.values_mut().filter_map(Value::as_object_mut) {
        for operation in item.values_mut() {
            for parameter in operation.get_mut("parameters").and_then(Value::as_array_mut).into_iter().flatten() {
                if let Some(schema) = parameter.get_mut("schema") {
                    not_null(schema);
                }
            }
        }
    }
}

/// The namespace of Omnicasa's request document.
const OMNICASA_NAMESPACE: &str = "http://schemas.datacontract.org/2004/07/OmnicasaApiv3.Parameters";

/// A reference, an external id, a code or a label, as
/// [`paystate_domain::order::validate_reference`] checks it: 1 to 200 characters, no control
/// character.
fn reference() -> Value {
    json!({"minLength": 1, "maxLength": 200, "pattern": NO_CONTROL})
}

/// Free text of a payment (`transaction_ref`, `invoice_id`, `note`): at most 2000 characters.
fn free_text() -> Value {
    json!({"maxLength": 2000, "pattern": NO_NUL})
}

/// A `reason` of a status report, refund or chargeback: at most 1000 characters.
fn reason() -> Value {
    json!({"maxLength": 1000, "pattern": NO_NUL})
}

/// An id of the kind `prefix` (`pm_`, `pay_`): the prefix and 32 lowercase hex digits, as
/// `paystate_domain::id` makes and parses them.
fn id_of(prefix: &str) -> Value {
    json!({"pattern": format!("^{prefix}[0-9a-f]{{32}}$")})
}

/// A webhook endpoint's URL, as `paystate_webhooks::ssrf::validate_url` takes it without the
/// private-networks allowance: http or https, a host name (not an IP literal, not `localhost`),
/// an optional port, no user info, no fragment, at most 2048 characters. The pattern keeps to
/// host names the WHATWG URL parser reads as names (the last label starts with a letter, so it is
/// never read as an IPv4 address) and to the characters of RFC 3986 (as the server requires).
fn webhook_url() -> Value {
    let label = "(?![Xx][Nn]--)[A-Za-z0-9-]+";
    let last = "(?![Xx][Nn]--)(?![Ll][Oo][Cc][Aa][Ll][Hh][Oo][Ss][Tt](?:[:/?]|$))[A-Za-z][A-Za-z0-9-]*";
    let port = "(?::(?:[0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?";
    let rest = "(?:[/?](?:[A-Za-z0-9._~!$&'()*+,;=:@/?-]|%[0-9A-Fa-f]{2})*)?";
    json!({
        "format": "uri",
        "maxLength": 2048,
        "pattern": format!("^[Hh][Tt][Tt][Pp][Ss]?://(?:{label}\\.)*{last}{port}{rest}$"),
    })
}

/// Adds `rule`'s keywords to a property of a component, keeping its type (and so whether it
/// may be null).
fn refine(schemas: &mut Map<String, Value>, schema: &str, property: &str, rule: &Value) {
    let Some(target) = schemas.get_mut(schema).and_then(|s| s.pointer_mut(&format!("/properties/{property}"))) else {
        panic!("the document has no {schema}.{property}");
    };
    for (key, value) in rule.as_object().into_iter().flatten() {
        target[key] = value.clone();
    }
}

/// The text and id fields of the native bodies, as the domain checks them.
fn text_rules(schemas: &mut Map<String, Value>) {
    let method = id_of(paystate_domain::MethodId::PREFIX);
    let rules: [(&str, &str, Value); 18] = [
        ("CreateOrder", "reference", reference()),
        ("CreateMethod", "code", reference()),
        ("CreateKey", "label", reference()),
        // A refund's source: a payment's id or its external id.
        ("CreatePayment", "source_payment_id", reference()),
        ("CreatePayment", "external_id", reference()),
        ("PatchPayment", "external_id", reference()),
        ("CreatePayment", "method_id", method.clone()),
        ("PatchPayment", "method_id", method),
        ("CreatePayment", "transaction_ref", free_text()),
        ("CreatePayment", "invoice_id", free_text()),
        ("CreatePayment", "note", free_text()),
        ("PatchPayment", "transaction_ref", free_text()),
        ("PatchPayment", "invoice_id", free_text()),
        ("PatchPayment", "note", free_text()),
        ("ReportStatus", "reason", reason()),
        ("Adjust", "reason", reason()),
        ("CreateEndpoint", "description", json!({"maxLength": 500, "pattern": NO_CONTROL})),
        ("PatchEndpoint", "description", json!({"maxLength": 500, "pattern": NO_CONTROL})),
    ];
    let url = webhook_url();
    refine(schemas, "CreateEndpoint", "url", &url);
    refine(schemas, "PatchEndpoint", "url", &url);
    for (schema, property, rule) in rules {
        refine(schemas, schema, property, &rule);
    }
    refine(schemas, "UpdatePaymentOrderParameter", "OrderId", &reference());
    refine(schemas, "UpdatePaymentOrderParameter", "PaidAt", &json!({"pattern": omnicasa_paid_at()}));
    if let Some(scope) = schemas.get_mut("CreateKey").and_then(|s| s.pointer_mut("/properties/scope")) {
        scope["enum"] = json!(["read", "write", "admin"]);
        scope.as_object_mut().expect("a schema").remove("pattern");
    }
    // A key is limited to an API that takes keys (never the CLI's, the console's or paystate's own).
    let dialects: Vec<Value> =
        Source::ALL.iter().filter(|source| source.takes_keys()).map(|source| json!(source.as_str())).collect();
    if let Some(dialect) = schemas.get_mut("CreateKey").and_then(|s| s.pointer_mut("/properties/dialect")) {
        let description = dialect.pointer("/oneOf/0/description").cloned();
        *dialect = json!({"enum": dialects.into_iter().chain([Value::Null]).collect::<Vec<_>>()});
        if let Some(description) = description {
            dialect["description"] = description;
        }
    }
}

/// Gormic's `params`, as `dialects::gormic::parse` reads them: unknown members refused,
/// ids 1 to 200 characters without control characters, free text up to 2000 characters, amounts
/// in major units as a positive number or decimal string.
fn gormic_rules(schemas: &mut Map<String, Value>) {
    let amount = json!({
        "anyOf": [
            {"type": "number", "exclusiveMinimum": 0, "maximum": 999_999_999_999_999_i64},
            {"type": "string", "pattern": "^(?=[0-9.]*[1-9])[0-9]+(?:\\.[0-9]+)?$", "maxLength": 40},
        ],
        "description": "Major units of the order's currency, a number or a decimal string, greater than zero and with at most the currency's decimals.",
    });
    for (schema, fields) in [
        ("gormic.CreateParams", ["orderId", "methodId", "customerUid", "sourcePaymentId"].as_slice()),
        ("gormic.UpdateParams", ["id", "orderId", "methodId", "customerUid", "sourcePaymentId"].as_slice()),
        ("gormic.ConfirmParams", ["id", "orderId", "customerUid"].as_slice()),
    ] {
        for field in fields {
            refine(schemas, schema, field, &reference());
        }
        let texts: &[&str] = if schema == "gormic.ConfirmParams" {
            &["transactionRef"]
        } else {
            &["transactionRef", "invoiceId", "note"]
        };
        for field in texts {
            refine(schemas, schema, field, &free_text());
        }
        if let Some(params) = schemas.get_mut(schema) {
            params["additionalProperties"] = json!(false);
            if schema != "gormic.ConfirmParams" {
                let nullable = schema == "gormic.UpdateParams";
                let mut rule = amount.clone();
                if nullable {
                    rule["anyOf"].as_array_mut().expect("choices").push(json!({"type": "null"}));
                }
                params["properties"]["amount"] = rule;
                let status = json!(["complete", "pending", "progress", "reversed", null]);
                params["properties"]["status"] = json!({"enum": status,
                    "description": "complete, pending, progress or reversed."});
            }
            if schema == "gormic.CreateParams" {
                params["properties"]["type"] =
                    json!({"enum": ["receipt", "refund"], "description": "receipt or refund (required)."});
            }
        }
    }
    for request in ["gormic.CreateRequest", "gormic.UpdateRequest", "gormic.ConfirmRequest"] {
        if let Some(body) = schemas.get_mut(request) {
            body["additionalProperties"] = json!(false);
        }
    }
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
