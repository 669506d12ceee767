//! The API Gateway HTTP API (payload format 2.0) event that carries a request to a function, as
//! `sam local invoke --event` and `cargo lambda invoke --data-file` take it.

use serde_json::{Map, Value, json};

/// A signed `POST /<function>` event with the given headers and body.
pub fn api_gateway_v2(
    function: &str,
    headers: &[(&str, String)],
    body: &str,
    timestamp: i64,
) -> Value {
    let headers: Map<String, Value> = headers
        .iter()
        .map(|(name, value)| (name.to_string(), Value::String(value.clone())))
        .collect();
    let path = format!("/{function}");
    json!({
        "version": "2.0",
        "routeKey": format!("POST {path}"),
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "localhost",
            "domainPrefix": "localhost",
            "http": {
                "method": "POST",
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "tenant-keys-cli"
            },
            "requestId": format!("local-{timestamp}"),
            "routeKey": format!("POST {path}"),
            "stage": "$default",
            "timeEpoch": timestamp * 1000
        },
        "body": body,
        "isBase64Encoded": false
    })
}
