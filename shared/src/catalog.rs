//! The provider catalog file (`providers/catalog.json`, schema `providers/catalog.schema.json`):
//! its entries, the rules an entry must follow, and the Rust source `build.rs` makes of it.
//!
//! `build.rs` includes this module: the functions embed the catalog at build time (no file is read
//! at cold start), and a bad entry fails the build with a message naming it. It depends on
//! `serde`, `serde_json` and `regex-lite` (which compiles each field's pattern once here, so a
//! pattern the functions use always compiles).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::template::{RESERVED_HEADERS, anchored, placeholders};

/// One provider as the catalog file spells it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub id: String,
    pub fields: Vec<FieldEntry>,
    pub check: Option<CheckEntry>,
    pub api: Option<ApiEntry>,
}

/// One credential field of an entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FieldEntry {
    pub name: String,
    pub public: bool,
    /// Where the field's format is documented; not used by the code.
    #[allow(dead_code)]
    pub comment: Option<String>,
    /// The fewest characters a value may have.
    pub min_length: Option<usize>,
    /// The most characters a value may have.
    pub max_length: Option<usize>,
    /// A regular expression (`regex-lite` syntax) the whole value must match.
    pub pattern: Option<String>,
}

/// The longest a field's `maxLength` may be: a value is at most 4096 bytes anyway.
const MAX_LENGTH: usize = 4096;

/// An entry's key check.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CheckEntry {
    /// Where the check is documented; not used by the code.
    #[allow(dead_code)]
    pub comment: Option<String>,
    pub method: String,
    pub base_url: String,
    /// Path and query; `{field}` stands for a field's value, percent-encoded.
    pub path: String,
    /// How the key is sent.
    pub send: SendKey,
    /// Headers sent as they are (an API version, say).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub accepted: Vec<u16>,
    pub rejected: Vec<u16>,
}

/// An entry's API, for call-provider: where it is and how the key goes with each call.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ApiEntry {
    /// Where the API and its authentication are documented; not used by the code.
    #[allow(dead_code)]
    pub comment: Option<String>,
    /// `https://host[:port]`, optionally with a base path every call stays under.
    pub base_url: String,
    /// How the key is sent.
    pub send: SendKey,
    /// Headers sent with every call unless the caller sets them (an API version, say).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The methods a caller may use (default: all of [`API_METHODS`]).
    #[serde(default)]
    pub methods: Vec<String>,
    /// The paths a caller may reach, by prefix (default: any path under the base URL).
    #[serde(default)]
    pub path_prefixes: Vec<String>,
}

/// The methods call-provider sends.
pub const API_METHODS: [&str; 6] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"];

/// How a check sends the key; a value template holds `{field}` placeholders.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub enum SendKey {
    /// `Authorization: Bearer <field>`.
    Bearer(String),
    /// A header of this name, with the template as its value.
    Header { name: String, value: String },
    /// `Authorization: Basic` of `username:password`, each a field.
    Basic { username: String, password: String },
    /// A query parameter of this name, with the template as its value (percent-encoded).
    Query { name: String, value: String },
}

fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Reads the catalog file `origin` (its text), checking every entry.
///
/// # Errors
/// A message naming the file and the entry (by position and id) and what is wrong with it.
pub fn parse(origin: &str, text: &str) -> Result<Vec<Entry>, String> {
    let file: Value = serde_json::from_str(text).map_err(|err| format!("{origin}: {err}"))?;
    let Some(object) = file.as_object() else {
        return Err(format!("{origin}: must be an object with \"providers\""));
    };
    if let Some(key) = object
        .keys()
        .find(|key| !["$schema", "providers"].contains(&key.as_str()))
    {
        return Err(format!("{origin}: unknown key \"{key}\""));
    }
    let Some(raw) = object.get("providers").and_then(Value::as_array) else {
        return Err(format!("{origin}: \"providers\" must be a list"));
    };
    let mut entries: Vec<Entry> = Vec::new();
    for (index, value) in raw.iter().enumerate() {
        let named = match value.get("id").and_then(Value::as_str) {
            Some(id) => format!("{origin}: provider {index} (\"{id}\")"),
            None => format!("{origin}: provider {index}"),
        };
        let entry: Entry =
            serde_json::from_value(value.clone()).map_err(|err| format!("{named}: {err}"))?;
        check_entry(&entry).map_err(|err| format!("{named}: {err}"))?;
        if entries.iter().any(|e| e.id == entry.id) {
            return Err(format!("{named}: the id is used twice"));
        }
        entries.push(entry);
    }
    if entries.is_empty() {
        return Err(format!("{origin}: no providers"));
    }
    Ok(entries)
}

/// The built-in entries with the operator's merged over them: an operator entry replaces the
/// built-in one of the same id, and a new id is appended. Both lists were checked by [`parse`].
pub fn merge(built_in: Vec<Entry>, operator: Vec<Entry>) -> Vec<Entry> {
    let mut entries = built_in;
    for entry in operator {
        match entries.iter_mut().find(|e| e.id == entry.id) {
            Some(existing) => *existing = entry,
            None => entries.push(entry),
        }
    }
    entries
}

/// The rules of one entry (the schema's, and those a schema cannot say).
fn check_entry(entry: &Entry) -> Result<(), String> {
    let id_ok = entry.id.len() <= 40
        && entry
            .id
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && entry
            .id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !id_ok {
        return Err("id must be 1-40 of a-z, 0-9 and -, starting with a letter or digit".into());
    }
    if entry.fields.is_empty() {
        return Err("a provider needs at least one field".into());
    }
    for (index, field) in entry.fields.iter().enumerate() {
        let name_ok = field.name.len() <= 40
            && field.name.starts_with(|c: char| c.is_ascii_lowercase())
            && field.name.chars().all(|c| c.is_ascii_alphanumeric());
        if !name_ok {
            return Err(format!(
                "field \"{}\": a name is camelCase, 1-40 letters and digits",
                field.name
            ));
        }
        if entry.fields[..index].iter().any(|f| f.name == field.name) {
            return Err(format!("field \"{}\" is listed twice", field.name));
        }
        check_field_rules(field).map_err(|err| format!("field \"{}\": {err}", field.name))?;
    }
    if let Some(check) = &entry.check {
        check_check(entry, check).map_err(|err| format!("check: {err}"))?;
    }
    if let Some(api) = &entry.api {
        check_api(entry, api).map_err(|err| format!("api: {err}"))?;
    }
    Ok(())
}

fn check_api(entry: &Entry, api: &ApiEntry) -> Result<(), String> {
    let rest = api.base_url.strip_prefix("https://").ok_or(
        "baseUrl must start with https:// (a key never goes over plain HTTP; \
         PROVIDER_API_BASE_URL_<ID> overrides it locally)",
    )?;
    let (host, base_path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || ".-:".contains(c));
    let base_path_ok = base_path.is_empty()
        || (!base_path.ends_with('/') && base_path.split('/').skip(1).all(is_plain_segment));
    if !host_ok || !base_path_ok {
        return Err(format!(
            "baseUrl {} must be https://host[:port], optionally with a base path of plain segments and no trailing /",
            api.base_url
        ));
    }
    check_send(entry, &api.send)?;
    if let SendKey::Header { name, .. } = &api.send
        && RESERVED_HEADERS.contains(&name.as_str())
        && name != "authorization"
    {
        return Err(format!("send: header {name} is one tenant-keys sets"));
    }
    check_static_headers(&api.headers)?;
    if let Some(method) = api
        .methods
        .iter()
        .find(|m| !API_METHODS.contains(&m.as_str()))
    {
        return Err(format!("method {method} is not one of {API_METHODS:?}"));
    }
    for prefix in &api.path_prefixes {
        let plain = prefix.starts_with('/')
            && prefix
                .trim_end_matches('/')
                .split('/')
                .skip(1)
                .all(is_plain_segment);
        if !plain {
            return Err(format!(
                "pathPrefixes: {prefix} must start with / and hold plain segments only"
            ));
        }
    }
    Ok(())
}

/// A path segment of letters, digits and `-._~`, not `.` or `..`.
fn is_plain_segment(segment: &str) -> bool {
    !segment.is_empty()
        && segment != "."
        && segment != ".."
        && segment
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c))
}

/// A field's optional validation: sensible length bounds, and a pattern that compiles.
fn check_field_rules(field: &FieldEntry) -> Result<(), String> {
    let min = field.min_length.unwrap_or(1);
    let max = field.max_length.unwrap_or(MAX_LENGTH);
    if min == 0 || max > MAX_LENGTH || min > max {
        return Err(format!(
            "minLength and maxLength must be 1 <= minLength <= maxLength <= {MAX_LENGTH}"
        ));
    }
    if let Some(pattern) = &field.pattern {
        anchored(pattern)
            .map_err(|err| format!("pattern {pattern} is not a regular expression: {err}"))?;
    }
    Ok(())
}

fn check_check(entry: &Entry, check: &CheckEntry) -> Result<(), String> {
    if !["GET", "HEAD"].contains(&check.method.as_str()) {
        return Err(format!("method {} is not GET or HEAD", check.method));
    }
    let host = check.base_url.strip_prefix("https://").ok_or(
        "baseUrl must start with https:// (a key never goes over plain HTTP; \
         PROVIDER_CHECK_BASE_URL_<ID> overrides it locally)",
    )?;
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || ".-:".contains(c));
    if !host_ok {
        return Err(format!(
            "baseUrl {} must be https://host[:port], with no path",
            check.base_url
        ));
    }
    if !check.path.starts_with('/') || check.path.contains(char::is_whitespace) {
        return Err(format!(
            "path {} must start with / and hold no space",
            check.path
        ));
    }
    known_placeholders(entry, &check.path, "path")?;
    // A segment that is nothing but a value could be sent as `.` or `..`, which servers and
    // proxies resolve as a step up the path (also percent-encoded). Text beside the field keeps
    // it a name (`/Accounts/{accountSid}.json`).
    let path_only = check.path.split('?').next().unwrap_or_default();
    if let Some(segment) = path_only.split('/').find(|segment| {
        segment.starts_with('{')
            && segment.ends_with('}')
            && placeholders(segment).is_ok_and(|names| names.len() == 1)
    }) {
        return Err(format!(
            "path segment {segment} is only a field: a value of . or .. would leave the path; put text beside the field in that segment"
        ));
    }
    check_send(entry, &check.send)?;
    check_static_headers(&check.headers)?;
    for (name, statuses) in [("accepted", &check.accepted), ("rejected", &check.rejected)] {
        if statuses.is_empty() || statuses.iter().any(|s| !(100..=599).contains(s)) {
            return Err(format!("{name} must list HTTP statuses (100-599)"));
        }
    }
    if let Some(both) = check.accepted.iter().find(|s| check.rejected.contains(s)) {
        return Err(format!("status {both} is both accepted and rejected"));
    }
    Ok(())
}

/// Whether `entry` has a field called `name`.
fn has_field(entry: &Entry, name: &str) -> bool {
    entry.fields.iter().any(|f| f.name == name)
}

/// How many `{field}` placeholders `template` holds, each naming a field of `entry` (`what` names
/// the template in the error).
fn known_placeholders(entry: &Entry, template: &str, what: &str) -> Result<usize, String> {
    let names = placeholders(template)?;
    if let Some(unknown) = names.iter().find(|name| !has_field(entry, name)) {
        return Err(format!(
            "{what} names no field of the provider: {{{unknown}}}"
        ));
    }
    Ok(names.len())
}

/// The rules of a `send` (the key's place), for a check and an API alike.
fn check_send(entry: &Entry, send: &SendKey) -> Result<(), String> {
    let known = |template: &str, what: &str| known_placeholders(entry, template, what);
    match send {
        SendKey::Bearer(field) => {
            if !has_field(entry, field) {
                return Err(format!("bearer names no field of the provider: {field}"));
            }
        }
        SendKey::Header { name, value } => {
            // Authorization is the usual place of a key (a template such as "Token {apiKey}").
            if !is_header_name(name) || ["host", "content-length"].contains(&name.as_str()) {
                return Err(format!("header {name} is not a lowercase header name"));
            }
            if known(value, "header value")? == 0 {
                return Err(format!("header value {value} holds no {{field}}"));
            }
        }
        SendKey::Basic { username, password } => {
            for field in [username, password] {
                if !has_field(entry, field) {
                    return Err(format!("basic names no field of the provider: {field}"));
                }
            }
        }
        SendKey::Query { name, value } => {
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-".contains(c))
            {
                return Err(format!("query parameter {name} is not a plain name"));
            }
            if known(value, "query value")? == 0 {
                return Err(format!("query value {value} holds no {{field}}"));
            }
        }
    }
    Ok(())
}

/// Headers a catalog entry sends as they are: lowercase names tenant-keys does not set, plain
/// values.
fn check_static_headers(headers: &BTreeMap<String, String>) -> Result<(), String> {
    for (name, value) in headers {
        if !is_header_name(name) || RESERVED_HEADERS.contains(&name.as_str()) {
            return Err(format!(
                "headers: {name} is not a lowercase header name tenant-keys may set"
            ));
        }
        if !placeholders(value)?.is_empty() || value.chars().any(|c| c.is_control()) {
            return Err(format!(
                "headers: {name} must be a plain value (no {{field}})"
            ));
        }
    }
    Ok(())
}

/// The Rust source of a [`SendKey`].
fn send_source(send: &SendKey) -> String {
    match send {
        SendKey::Bearer(field) => format!("SendKey::Bearer({field:?})"),
        SendKey::Header { name, value } => {
            format!("SendKey::Header {{ name: {name:?}, value: {value:?} }}")
        }
        SendKey::Basic { username, password } => {
            format!("SendKey::Basic {{ username: {username:?}, password: {password:?} }}")
        }
        SendKey::Query { name, value } => {
            format!("SendKey::Query {{ name: {name:?}, value: {value:?} }}")
        }
    }
}

/// The Rust source of static headers (a slice of pairs).
fn headers_source(headers: &BTreeMap<String, String>) -> String {
    headers
        .iter()
        .map(|(name, value)| format!("({name:?}, {value:?})"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The Rust source of `PROVIDERS` for `entries` (string literals by `{:?}`, which escapes).
pub fn rust_source(entries: &[Entry]) -> String {
    let mut out = String::from(
        "// Generated by shared/build.rs from the provider catalog: do not edit.\n\
         /// Every provider tenant-keys knows, from `providers/catalog.json`.\n\
         pub static PROVIDERS: &[Provider] = &[\n",
    );
    for entry in entries {
        out.push_str(&format!(
            "    Provider {{\n        id: {:?},\n        fields: &[\n",
            entry.id
        ));
        for field in &entry.fields {
            out.push_str(&format!(
                "            Field {{ name: {:?}, public: {}, min_length: {:?}, max_length: {:?}, \
                 pattern: {:?} }},\n",
                field.name,
                field.public,
                field.min_length,
                field.max_length,
                field.pattern.as_deref()
            ));
        }
        out.push_str("        ],\n");
        match &entry.check {
            None => out.push_str("        check: None,\n"),
            Some(check) => {
                out.push_str(&format!(
                    "        check: Some(Check {{\n            method: {:?},\n            base_url: {:?},\n            \
                     path: {:?},\n            send: {},\n            headers: &[{}],\n            \
                     accepted: &{:?},\n            rejected: &{:?},\n        }}),\n",
                    check.method,
                    check.base_url,
                    check.path,
                    send_source(&check.send),
                    headers_source(&check.headers),
                    check.accepted,
                    check.rejected
                ));
            }
        }
        match &entry.api {
            None => out.push_str("        api: None,\n"),
            Some(api) => {
                let methods: Vec<&str> = if api.methods.is_empty() {
                    API_METHODS.to_vec()
                } else {
                    api.methods.iter().map(String::as_str).collect()
                };
                out.push_str(&format!(
                    "        api: Some(Api {{\n            base_url: {:?},\n            send: {},\n            \
                     headers: &[{}],\n            methods: &{:?},\n            path_prefixes: &{:?},\n        }}),\n",
                    api.base_url,
                    send_source(&api.send),
                    headers_source(&api.headers),
                    methods,
                    api.path_prefixes
                ));
            }
        }
        out.push_str("    },\n");
    }
    out.push_str("];\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(entry: &str) -> String {
        parse("test.json", &format!("{{\"providers\": [{entry}]}}")).unwrap_err()
    }

    const GOOD_CHECK: &str = r#""method": "GET", "baseUrl": "https://api.example.com",
        "path": "/v1/me", "send": {"bearer": "apiKey"}, "accepted": [200], "rejected": [401]"#;

    #[test]
    fn the_built_in_catalog_is_valid() {
        let text = include_str!("../../providers/catalog.json");
        let entries = parse("providers/catalog.json", text).unwrap();
        assert!(entries.iter().any(|e| e.id == "vapi"));
    }

    /// An entry with one `apiKey` field and `check`.
    fn with_check(check: &str) -> String {
        format!(
            r#"{{"id": "x", "fields": [{{"name": "apiKey", "public": false}}], "check": {{{check}}}}}"#
        )
    }

    #[test]
    fn a_bad_entry_is_refused_with_its_position_id_and_reason() {
        let entries = [
            (
                r#"{"id": "Bad_Id", "fields": [{"name": "apiKey", "public": false}]}"#.to_owned(),
                "provider 0 (\"Bad_Id\"): id must be",
            ),
            (r#"{"id": "x", "fields": []}"#.to_owned(), "at least one field"),
            (
                r#"{"id": "x", "fields": [{"name": "api_key", "public": false}]}"#.to_owned(),
                "field \"api_key\"",
            ),
            (
                r#"{"id": "x", "fields": [{"name": "apiKey", "public": false}, {"name": "apiKey", "public": true}]}"#.to_owned(),
                "listed twice",
            ),
            (
                r#"{"id": "x", "fields": [{"name": "apiKey", "public": false}], "extra": 1}"#.to_owned(),
                "unknown field `extra`",
            ),
            (
                r#"{"id": "x", "fields": [{"name": "apiKey", "public": false, "minLength": 0}]}"#.to_owned(),
                "field \"apiKey\": minLength and maxLength must be",
            ),
            (
                r#"{"id": "x", "fields": [{"name": "apiKey", "public": false, "minLength": 9, "maxLength": 8}]}"#.to_owned(),
                "field \"apiKey\": minLength and maxLength must be",
            ),
            (
                r#"{"id": "x", "fields": [{"name": "apiKey", "public": false, "maxLength": 5000}]}"#.to_owned(),
                "maxLength <= 4096",
            ),
            (
                r#"{"id": "x", "fields": [{"name": "apiKey", "public": false, "pattern": "sk-[a-z"}]}"#.to_owned(),
                "field \"apiKey\": pattern sk-[a-z is not a regular expression",
            ),
        ];
        let checks = [
            (
                GOOD_CHECK.replace("\"bearer\": \"apiKey\"", "\"bearer\": \"token\""),
                "bearer names no field",
            ),
            (GOOD_CHECK.replace("https://", "http://"), "plain HTTP"),
            (GOOD_CHECK.replace(".com\"", ".com/v1\""), "no path"),
            (
                GOOD_CHECK.replace("[401]", "[200]"),
                "both accepted and rejected",
            ),
            (
                GOOD_CHECK.replace("\"GET\"", "\"DELETE\""),
                "not GET or HEAD",
            ),
            (
                GOOD_CHECK.replace("/v1/me", "/v1/{workspace}"),
                "path names no field of the provider: {workspace}",
            ),
            (
                GOOD_CHECK.replace("/v1/me", "/v1/{apiKey}/me"),
                "path segment {apiKey} is only a field",
            ),
            (
                GOOD_CHECK.replace("/v1/me", "/v1/{apiKey}?q=1"),
                "path segment {apiKey} is only a field",
            ),
            (
                GOOD_CHECK.replace(
                    r#"{"bearer": "apiKey"}"#,
                    r#"{"header": {"name": "x-key", "value": "{nope}"}}"#,
                ),
                "header value names no field",
            ),
            (
                GOOD_CHECK.replace(
                    r#"{"bearer": "apiKey"}"#,
                    r#"{"query": {"name": "key", "value": "fixed"}}"#,
                ),
                "holds no {field}",
            ),
            (
                GOOD_CHECK.replace(
                    r#"{"bearer": "apiKey"}"#,
                    r#"{"basic": {"username": "apiKey", "password": "secret"}}"#,
                ),
                "basic names no field",
            ),
            (
                format!(r#"{GOOD_CHECK}, "headers": {{"authorization": "Bearer x"}}"#),
                "headers: authorization",
            ),
            (
                format!(r#"{GOOD_CHECK}, "headers": {{"x-version": "{{apiKey}}"}}"#),
                "must be a plain value",
            ),
        ];
        let cases = entries.into_iter().chain(
            checks
                .into_iter()
                .map(|(check, reason)| (with_check(&check), reason)),
        );
        for (entry, reason) in cases {
            let message = refused(&entry);
            assert!(message.starts_with("test.json: provider 0"), "{message}");
            assert!(message.contains(reason), "{entry}: {message}");
        }
        let twice = r#"{"id": "x", "fields": [{"name": "apiKey", "public": false}]}"#;
        let message = refused(&format!("{twice}, {twice}"));
        assert!(
            message.contains("provider 1 (\"x\"): the id is used twice"),
            "{message}"
        );
    }

    #[test]
    fn an_operator_entry_replaces_a_built_in_one_or_is_added() {
        let built_in = parse(
            "built-in",
            r#"{"providers": [{"id": "a", "fields": [{"name": "apiKey", "public": false}]},
                {"id": "b", "fields": [{"name": "apiKey", "public": false}]}]}"#,
        )
        .unwrap();
        let operator = parse(
            "operator",
            r#"{"providers": [{"id": "b", "fields": [{"name": "token", "public": true}]},
                {"id": "c", "fields": [{"name": "apiKey", "public": false}]}]}"#,
        )
        .unwrap();
        let merged = merge(built_in, operator);
        let ids: Vec<&str> = merged.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c"]);
        assert_eq!(merged[1].fields[0].name, "token");
    }

    #[test]
    fn the_source_holds_every_entry() {
        let text = format!(
            r#"{{"providers": [{{"id": "x", "fields": [{{"name": "apiKey", "public": false}}],
            "check": {{{GOOD_CHECK}}}}}]}}"#
        );
        let source = rust_source(&parse("t", &text).unwrap());
        assert!(source.contains(r#"id: "x""#), "{source}");
        assert!(
            source.contains(r#"base_url: "https://api.example.com""#),
            "{source}"
        );
        assert!(source.contains("accepted: &[200]"), "{source}");
    }
}
