//! Fuzzes the request path before Secrets Manager: signature verification (with a correct and a
//! forged signature) and the parsing and validation of the five operations' bodies. Nothing may
//! panic; a correctly signed body must pass verification.
//!
//!     cargo +nightly fuzz run request_path
#![no_main]

use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use tenant_keys::auth::{Signer, SigningKeys};
use tenant_keys::request::{
    ConnectRequest, DisconnectRequest, FetchRequest, ListRequest, UpdateRequest,
};

const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

fn headers(id: &str, timestamp: i64, signature: &str) -> Option<HeaderMap> {
    let mut headers = HeaderMap::new();
    headers.insert("webhook-id", HeaderValue::from_str(id).ok()?);
    headers.insert("webhook-timestamp", HeaderValue::from(timestamp));
    headers.insert("webhook-signature", HeaderValue::from_str(signature).ok()?);
    Some(headers)
}

fuzz_target!(|data: &[u8]| {
    let keys = SigningKeys::parse(SECRET).unwrap();
    let signer = Signer::parse(SECRET).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;

    if let Ok(signature) = signer.sign("msg_fuzz", now, data) {
        let signed = headers("msg_fuzz", now, &signature).unwrap();
        assert!(keys.verify(&signed, data).is_ok());
    }
    // The data as a forged signature header.
    if let Some(forged) = std::str::from_utf8(data).ok().and_then(|s| headers("msg_fuzz", now, s)) {
        assert!(keys.verify(&forged, b"{}").is_err());
    }

    let _ = ConnectRequest::parse(data);
    let _ = DisconnectRequest::parse(data);
    let _ = ListRequest::parse(data);
    let _ = FetchRequest::parse(data);
    let _ = UpdateRequest::parse(data);
});
