//! `call-provider`'s request, and the rules of what a caller may send through it: a path that
//! stays under the provider's API (no other host, no step up), a method and a path prefix the
//! catalog allows, query parameters, headers that are not tenant-keys' own, and a body.
//!
//! Everything is refused, never normalized: a path with `..`, `//`, `@`, a backslash, an encoded
//! dot, slash or backslash, a query or a fragment, or a character outside RFC 3986's path
//! characters is `400 invalid_request`; so is a header tenant-keys sets (`authorization`, the
//! provider's key header, `host`, `cookie`, the hop-by-hop ones: [`RESERVED_HEADERS`]). Details
//! name the rule, and a header only when it is one of those fixed names: nothing else a caller
//! wrote is quoted (it could be a key).

use std::time::Duration;

use http::{HeaderName, HeaderValue};
use serde_json::{Map, Value};

use crate::Error;
use crate::provider::{Api, Provider};
use crate::request::{max_age, object, optional_string, provider, tenant};
use crate::template::RESERVED_HEADERS;
use crate::tenant::TenantId;

/// The longest `path` accepted.
const MAX_PATH_LEN: usize = 2048;
/// The most query parameters, and the most headers, one call may carry.
const MAX_PAIRS: usize = 50;
/// The longest query name or value, and the longest header value.
const MAX_PART_LEN: usize = 4096;

/// `call-provider`: one call to the provider's API as the tenant. `Debug` shows the method, the
/// path and the names of query parameters and headers, never their values or the body.
pub struct CallRequest {
    /// Whose key.
    pub tenant: TenantId,
    /// Which provider.
    pub provider: &'static Provider,
    /// Its API (the catalog's `api`).
    pub api: &'static Api,
    /// The method, one of the API's.
    pub method: &'static str,
    /// The path under the API's base URL, checked.
    pub path: String,
    /// Query parameters, in order.
    pub query: Vec<(String, String)>,
    /// Headers to send, names lowercase.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The body: JSON (sent as `application/json` unless the caller says otherwise) or text.
    pub body: Option<CallBody>,
    /// The oldest cached key the caller accepts (as fetch-key's `maxAgeSeconds`); `None`: the
    /// cache's TTL.
    pub max_age: Option<Duration>,
}

/// A call's body.
pub enum CallBody {
    /// A JSON value, sent serialized.
    Json(Value),
    /// A string, sent as it is.
    Text(String),
}

impl std::fmt::Debug for CallRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names = |pairs: Vec<&str>| pairs.join(", ");
        f.debug_struct("CallRequest")
            .field("tenant", &self.tenant)
            .field("provider", &self.provider.id)
            .field("method", &self.method)
            .field("path", &self.path)
            .field(
                "query",
                &names(self.query.iter().map(|(n, _)| n.as_str()).collect()),
            )
            .field(
                "headers",
                &names(self.headers.iter().map(|(n, _)| n.as_str()).collect()),
            )
            .field("body", &self.body.as_ref().map(|_| "<not shown>"))
            .finish()
    }
}

impl CallRequest {
    /// Parses a call-provider body.
    ///
    /// # Errors
    /// `invalid_json`, `invalid_tenant_id`, `unknown_provider`, and `invalid_request` for a
    /// provider without an API, or a method, path, query, header or body the rules refuse.
    pub fn parse(body: &[u8]) -> Result<Self, Error> {
        let fields = object(
            body,
            &[
                "tenantId",
                "provider",
                "method",
                "path",
                "query",
                "headers",
                "body",
                "maxAgeSeconds",
                "refresh",
            ],
        )?;
        let tenant = tenant(&fields)?;
        let provider = provider(&fields)?;
        let api = provider.api.as_ref().ok_or_else(|| {
            Error::InvalidRequest(format!(
                "{} has no API in the catalog: call-provider cannot call it",
                provider.id
            ))
        })?;
        let method = method(&fields, api)?;
        let path = path(optional_string(&fields, "path")?, api)?;
        let query = query(fields.get("query"))?;
        if let Some(name) = api.key_query()
            && query.iter().any(|(n, _)| n == name)
        {
            return Err(Error::InvalidRequest(format!(
                "query: {name} is where tenant-keys puts the key; it cannot be sent"
            )));
        }
        let headers = headers(fields.get("headers"), api)?;
        let body = match fields.get("body") {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => Some(CallBody::Text(text.clone())),
            Some(value) => Some(CallBody::Json(value.clone())),
        };
        if body.is_some() && ["GET", "HEAD"].contains(&method) {
            return Err(Error::InvalidRequest(format!(
                "a {method} call has no body"
            )));
        }
        Ok(CallRequest {
            tenant,
            provider,
            api,
            method,
            path,
            query,
            headers,
            body,
            max_age: max_age(&fields)?,
        })
    }
}

fn method(fields: &Map<String, Value>, api: &'static Api) -> Result<&'static str, Error> {
    let asked = optional_string(fields, "method")?
        .ok_or_else(|| Error::InvalidRequest("method is required".into()))?;
    api.methods
        .iter()
        .find(|allowed| **allowed == asked)
        .copied()
        .ok_or_else(|| {
            Error::InvalidRequest(format!("method must be one of: {}", api.methods.join(", ")))
        })
}

/// The path, if it stays under the API: see the module's rules.
fn path(path: Option<&str>, api: &'static Api) -> Result<String, Error> {
    let path = path.ok_or_else(|| Error::InvalidRequest("path is required".into()))?;
    let refuse = |rule: &str| Err(Error::InvalidRequest(format!("path {rule}")));
    if !path.starts_with('/') || path.len() > MAX_PATH_LEN {
        return refuse("must start with / and be at most 2048 characters");
    }
    if path.contains(['?', '#']) {
        return refuse("holds no query or fragment: send query parameters in query");
    }
    let bytes = path.as_bytes();
    for (at, byte) in bytes.iter().enumerate() {
        let allowed = byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:/%".contains(byte);
        if !allowed {
            return refuse(
                "may hold only letters, digits and -._~!$&'()*+,;=:/ (others percent-encoded); no @ or backslash",
            );
        }
        if *byte == b'%' {
            let hex = bytes
                .get(at + 1..at + 3)
                .and_then(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok());
            match hex {
                None => return refuse("has a % that is not followed by two hex digits"),
                Some(b'.' | b'/' | b'\\') => {
                    return refuse("may not percent-encode a dot, a slash or a backslash");
                }
                Some(decoded) if decoded.is_ascii_control() => {
                    return refuse("may not percent-encode a control character");
                }
                Some(_) => {}
            }
        }
    }
    if path[1..].split('/').enumerate().any(|(index, segment)| {
        segment == "."
            || segment == ".."
            || (segment.is_empty() && index + 1 < path[1..].split('/').count())
    }) {
        return refuse("may not hold an empty, . or .. segment");
    }
    let under_prefix = |prefix: &&str| {
        path.starts_with(*prefix)
            && (prefix.ends_with('/')
                || path.len() == prefix.len()
                || path.as_bytes()[prefix.len()] == b'/')
    };
    if !api.path_prefixes.is_empty() && !api.path_prefixes.iter().any(under_prefix) {
        return Err(Error::InvalidRequest(format!(
            "path must be under one of: {}",
            api.path_prefixes.join(", ")
        )));
    }
    Ok(path.to_owned())
}

/// `query`: an object of names to strings, numbers or booleans.
fn query(value: Option<&Value>) -> Result<Vec<(String, String)>, Error> {
    let refuse = || {
        Err(Error::InvalidRequest(format!(
            "query must be an object of at most {MAX_PAIRS} names (1-{MAX_PART_LEN} characters) to strings, numbers or booleans"
        )))
    };
    let object = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Object(object)) if object.len() <= MAX_PAIRS => object,
        Some(_) => return refuse(),
    };
    let mut pairs = Vec::with_capacity(object.len());
    for (name, value) in object {
        let value = match value {
            Value::String(text) => text.clone(),
            Value::Number(number) => number.to_string(),
            Value::Bool(flag) => flag.to_string(),
            _ => return refuse(),
        };
        if name.is_empty() || name.len() > MAX_PART_LEN || value.len() > MAX_PART_LEN {
            return refuse();
        }
        pairs.push((name.clone(), value));
    }
    Ok(pairs)
}

/// `headers`: an object of header names to strings, none of them tenant-keys' own.
fn headers(
    value: Option<&Value>,
    api: &'static Api,
) -> Result<Vec<(HeaderName, HeaderValue)>, Error> {
    let refuse = |rule: String| Err(Error::InvalidRequest(format!("headers: {rule}")));
    let object = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Object(object)) if object.len() <= MAX_PAIRS => object,
        Some(_) => {
            return refuse(format!(
                "must be an object of at most {MAX_PAIRS} header names to strings"
            ));
        }
    };
    let mut pairs = Vec::with_capacity(object.len());
    for (name, value) in object {
        let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
            return refuse("a name is not a header name".into());
        };
        if let Some(reserved) = RESERVED_HEADERS
            .iter()
            .chain(api.key_header().as_ref())
            .find(|reserved| name == **reserved)
        {
            return refuse(format!(
                "{reserved} is set by tenant-keys and cannot be sent (reserved: {}, and the provider's key header)",
                RESERVED_HEADERS.join(", ")
            ));
        }
        let value = match value {
            Value::String(text) if text.len() <= MAX_PART_LEN => {
                match HeaderValue::from_str(text) {
                    Ok(value) => value,
                    Err(_) => return refuse("a value is not a header value".into()),
                }
            }
            _ => return refuse("every value must be a string".into()),
        };
        pairs.push((name, value));
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(body: Value) -> Result<CallRequest, Error> {
        CallRequest::parse(body.to_string().as_bytes())
    }

    fn call(path: &str) -> Value {
        json!({"tenantId": "org_1", "provider": "vapi", "method": "GET", "path": path})
    }

    #[test]
    fn a_call_parses_with_its_parts() {
        let request = parse(json!({
            "tenantId": "org_1", "provider": "vapi", "method": "POST", "path": "/assistant",
            "query": {"limit": 10, "draft": false}, "headers": {"X-Trace": "t-1"},
            "body": {"name": "a"}
        }))
        .unwrap();
        assert_eq!(
            (request.method, request.path.as_str()),
            ("POST", "/assistant")
        );
        assert_eq!(
            request.query,
            [
                ("limit".into(), "10".into()),
                ("draft".into(), "false".into())
            ]
        );
        assert_eq!(request.headers[0].0, "x-trace");
        assert!(matches!(request.body, Some(CallBody::Json(_))));
        let shown = format!("{request:?}");
        assert!(
            shown.contains("x-trace") && !shown.contains("t-1"),
            "{shown}"
        );
    }

    #[test]
    fn paths_that_could_leave_the_api_are_refused() {
        for path in [
            "assistant",
            "//evil.example/x",
            "/a/../b",
            "/a/./b",
            "/..",
            "/a//b",
            "/@evil.example",
            "/a@b",
            "/a\\b",
            "/%2e%2e/b",
            "/a/%2E%2e",
            "/a%2fb",
            "/a%5Cb",
            "/a%00",
            "/a%zz",
            "/a?x=1",
            "/a#f",
            "/a b",
            "/ä",
            "https://evil.example/",
        ] {
            let err = parse(call(path)).unwrap_err();
            assert_eq!(err.code(), "invalid_request", "{path}");
            assert!(
                !err.detail().contains(path),
                "{path} is quoted: {}",
                err.detail()
            );
        }
        for path in [
            "/",
            "/assistant",
            "/assistant/",
            "/phone-number/a1-b2",
            "/a%20b",
            "/a:b",
        ] {
            assert_eq!(parse(call(path)).unwrap().path, path);
        }
    }

    #[test]
    fn the_catalogs_prefixes_and_methods_bound_the_call() {
        let openai = |method: &str, path: &str| {
            parse(
                json!({"tenantId": "org_1", "provider": "openai", "method": method, "path": path}),
            )
        };
        assert!(openai("GET", "/v1/models").is_ok());
        assert_eq!(
            openai("GET", "/v2/models").unwrap_err().code(),
            "invalid_request"
        );
        assert_eq!(openai("GET", "/v1x").unwrap_err().code(), "invalid_request");
        assert_eq!(
            openai("TRACE", "/v1/models").unwrap_err().code(),
            "invalid_request"
        );
        assert_eq!(
            openai("get", "/v1/models").unwrap_err().code(),
            "invalid_request"
        );
    }

    #[test]
    fn tenant_keys_own_headers_are_refused_by_name() {
        for name in [
            "Authorization",
            "host",
            "Cookie",
            "transfer-encoding",
            "accept-encoding",
        ] {
            let mut body = call("/assistant");
            body["headers"] = json!({ name: "x" });
            let err = parse(body).unwrap_err();
            assert_eq!(err.code(), "invalid_request", "{name}");
            assert!(
                err.detail().contains(&name.to_ascii_lowercase()),
                "{}",
                err.detail()
            );
        }
        // The key header of a provider that sends the key in its own header.
        let body = json!({"tenantId": "org_1", "provider": "anthropic", "method": "GET",
                          "path": "/v1/models", "headers": {"x-api-key": "mine"}});
        assert_eq!(parse(body).unwrap_err().code(), "invalid_request");
        // A header name that is not one is refused without being quoted.
        let mut body = call("/assistant");
        body["headers"] = json!({"sk-live 0123456789": "x"});
        let err = parse(body).unwrap_err();
        assert!(!err.detail().contains("sk-live"), "{}", err.detail());
    }

    #[test]
    fn a_get_has_no_body_and_a_provider_without_api_cannot_be_called() {
        let mut body = call("/assistant");
        body["body"] = json!({"a": 1});
        assert_eq!(parse(body).unwrap_err().code(), "invalid_request");
        let mut body = call("/assistant");
        body["query"] = json!({"nested": {"a": 1}});
        assert_eq!(parse(body).unwrap_err().code(), "invalid_request");
    }
}
