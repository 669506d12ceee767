//! Standard Webhooks authentication: the signing keys a function accepts and the check of a
//! request's `webhook-id`, `webhook-timestamp` and `webhook-signature` headers.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::HeaderMap;
use standardwebhooks::Webhook;

use crate::Error;

/// Prefix of a Standard Webhooks secret: `whsec_<base64 of the key>`.
const WHSEC_PREFIX: &str = "whsec_";
/// Shortest key accepted, in bytes (the specification asks for 24 to 64 random bytes).
const MIN_KEY_BYTES: usize = 24;
/// How far a request's `webhook-timestamp` may be from the function's clock, in seconds (the
/// specification's five minutes, which the signature library applies too).
pub const TIMESTAMP_TOLERANCE_SECONDS: u64 = 5 * 60;
/// Longest `webhook-timestamp` accepted, in digits: Unix seconds have 10 digits until the year
/// 2286; anything longer is not a plausible time.
const MAX_TIMESTAMP_DIGITS: usize = 11;

/// The `webhook-id` of an authenticated request: the idempotency key of its operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookId(String);

impl WebhookId {
    /// The id as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    #[cfg(test)]
    pub(crate) fn new_for_tests(id: &str) -> Self {
        WebhookId(id.to_owned())
    }
}

/// Why signing keys could not be read. Never carries key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The secret holds no key at all.
    #[error("the webhook signing secret is empty")]
    Empty,
    /// A body to sign is not UTF-8 text.
    #[error("the body to sign is not UTF-8 text")]
    BodyNotText,
    /// Key number `n` (1-based) is not a usable key.
    #[error(
        "signing key #{0} is not valid: expected whsec_<base64 of 24+ bytes> or a raw key of 24+ characters"
    )]
    Invalid(usize),
}

/// The signing keys a function accepts; a signature made with any of them passes, so a key can be
/// rotated by serving the old and the new one side by side. `Debug` shows only how many there are.
pub struct SigningKeys(Vec<Webhook>);

impl fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeys")
            .field("count", &self.0.len())
            .finish()
    }
}

impl SigningKeys {
    /// Reads the keys from the signing secret's text: one or more keys separated by whitespace.
    /// Each is either `whsec_<base64>` (the Standard Webhooks format) or, when it lacks that
    /// prefix, a raw key whose UTF-8 bytes are the HMAC key (what a generated
    /// `AWS::SecretsManager::Secret` holds).
    ///
    /// # Errors
    /// [`KeyError`] when there is no key, a `whsec_` key is not base64, or a key is shorter than 24
    /// bytes.
    pub fn parse(secret_text: &str) -> Result<Self, KeyError> {
        let keys = secret_text
            .split_whitespace()
            .enumerate()
            .map(|(i, key)| parse_key(key).ok_or(KeyError::Invalid(i + 1)))
            .collect::<Result<Vec<_>, _>>()?;
        if keys.is_empty() {
            return Err(KeyError::Empty);
        }
        Ok(SigningKeys(keys))
    }

    /// Checks a request's signature headers against its raw body.
    ///
    /// Returns the request's `webhook-id` when the headers are well formed and fresh
    /// ([`SigningKeys::check_headers`]) and a `v1` signature made with any of the keys matches.
    /// Comparison is in constant time.
    ///
    /// # Errors
    /// [`Error::Unauthorized`] — the same error whichever check failed.
    pub fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<WebhookId, Error> {
        let id = Self::check_headers(headers)?;
        if self.signed_by_any(headers, body) {
            Ok(id)
        } else {
            Err(Error::Unauthorized)
        }
    }

    /// The checks that need no key: a non-empty `webhook-id`, and a `webhook-timestamp` that is
    /// a plain number of Unix seconds within five minutes of the function's clock. The timestamp
    /// is checked here, with checked arithmetic, before the signature library sees it: the
    /// library's own check subtracts with wrapping arithmetic, so a timestamp near `i64::MIN`
    /// would pass it forever.
    ///
    /// # Errors
    /// [`Error::Unauthorized`] when a check fails.
    pub fn check_headers(headers: &HeaderMap) -> Result<WebhookId, Error> {
        let id = headers
            .get(standardwebhooks::HEADER_WEBHOOK_ID)
            .and_then(|v| v.to_str().ok())
            .filter(|id| !id.is_empty())
            .ok_or(Error::Unauthorized)?;
        if !timestamp_is_fresh(headers, unix_now()) {
            return Err(Error::Unauthorized);
        }
        Ok(WebhookId(id.to_owned()))
    }

    /// Whether a `v1` signature in the headers was made over `body` with one of the keys.
    pub fn signed_by_any(&self, headers: &HeaderMap, body: &[u8]) -> bool {
        self.0.iter().any(|key| key.verify(body, headers).is_ok())
    }
}

/// Signs requests with the first key of a signing secret, as a caller of the functions does
/// (the CLI, the end-to-end tests). `Debug` shows nothing of the key.
pub struct Signer(Webhook);

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Signer")
    }
}

impl Signer {
    /// Reads the signing key from a signing secret's text, in the formats of
    /// [`SigningKeys::parse`]; with several keys, the first signs.
    ///
    /// # Errors
    /// [`KeyError`] as for [`SigningKeys::parse`].
    pub fn parse(secret_text: &str) -> Result<Self, KeyError> {
        let first = secret_text
            .split_whitespace()
            .next()
            .ok_or(KeyError::Empty)?;
        parse_key(first).map(Signer).ok_or(KeyError::Invalid(1))
    }

    /// The `webhook-signature` header value (`v1,<base64>`) for a request.
    ///
    /// # Errors
    /// [`KeyError::BodyNotText`] when the body is not UTF-8 (the scheme signs text).
    pub fn sign(&self, webhook_id: &str, timestamp: i64, body: &[u8]) -> Result<String, KeyError> {
        self.0
            .sign(webhook_id, timestamp, body)
            .map_err(|_| KeyError::BodyNotText)
    }
}

/// Whether the `webhook-timestamp` header is a plain decimal number of Unix seconds within
/// [`TIMESTAMP_TOLERANCE_SECONDS`] of `now`. No sign, no spaces, no more than
/// [`MAX_TIMESTAMP_DIGITS`] digits: nothing that is not a plausible time reaches the arithmetic.
fn timestamp_is_fresh(headers: &HeaderMap, now: u64) -> bool {
    headers
        .get(standardwebhooks::HEADER_WEBHOOK_TIMESTAMP)
        .and_then(|v| v.to_str().ok())
        .filter(|t| {
            !t.is_empty()
                && t.len() <= MAX_TIMESTAMP_DIGITS
                && t.bytes().all(|b| b.is_ascii_digit())
        })
        .and_then(|t| t.parse::<u64>().ok())
        .is_some_and(|t| t.abs_diff(now) <= TIMESTAMP_TOLERANCE_SECONDS)
}

/// The function's clock in Unix seconds (0 if the clock is before 1970, which refuses everything).
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// One key of the signing secret, decoded; `None` when it is malformed or too short.
fn parse_key(key: &str) -> Option<Webhook> {
    let bytes = match key.strip_prefix(WHSEC_PREFIX) {
        Some(encoded) => STANDARD.decode(encoded).ok()?,
        None => key.as_bytes().to_vec(),
    };
    if bytes.len() < MIN_KEY_BYTES {
        return None;
    }
    Webhook::from_bytes(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    // The test vector of the Standard Webhooks specification.
    const SPEC_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const SPEC_ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
    const SPEC_TIMESTAMP: i64 = 1649367553;
    const SPEC_BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;
    const SPEC_SIGNATURE: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";
    const OTHER_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn now() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    }

    fn headers(id: &str, timestamp: i64, signature: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("webhook-id", HeaderValue::from_str(id).unwrap());
        headers.insert("webhook-timestamp", HeaderValue::from(timestamp));
        headers.insert(
            "webhook-signature",
            HeaderValue::from_str(signature).unwrap(),
        );
        headers
    }

    fn signed(secret: &str, timestamp: i64, body: &[u8]) -> HeaderMap {
        let signature = Webhook::new(secret)
            .unwrap()
            .sign(SPEC_ID, timestamp, body)
            .unwrap();
        headers(SPEC_ID, timestamp, &signature)
    }

    #[test]
    fn the_specification_test_vector_signs_as_published() {
        let key = Webhook::new(SPEC_SECRET).unwrap();
        assert_eq!(
            key.sign(SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY).unwrap(),
            SPEC_SIGNATURE
        );
    }

    #[test]
    fn the_specification_signature_is_refused_once_its_timestamp_is_old() {
        let keys = SigningKeys::parse(SPEC_SECRET).unwrap();
        let headers = headers(SPEC_ID, SPEC_TIMESTAMP, SPEC_SIGNATURE);
        assert!(matches!(
            keys.verify(&headers, SPEC_BODY),
            Err(Error::Unauthorized)
        ));
    }

    #[test]
    fn a_fresh_signature_passes_and_yields_the_webhook_id() {
        let keys = SigningKeys::parse(SPEC_SECRET).unwrap();
        let id = keys
            .verify(&signed(SPEC_SECRET, now(), SPEC_BODY), SPEC_BODY)
            .unwrap();
        assert_eq!(id.as_str(), SPEC_ID);
    }

    #[test]
    fn either_of_two_rotating_keys_passes_and_a_retired_one_does_not() {
        let keys = SigningKeys::parse(&format!("{SPEC_SECRET}\n {OTHER_SECRET}")).unwrap();
        for secret in [SPEC_SECRET, OTHER_SECRET] {
            assert!(
                keys.verify(&signed(secret, now(), SPEC_BODY), SPEC_BODY)
                    .is_ok()
            );
        }
        let only_new = SigningKeys::parse(OTHER_SECRET).unwrap();
        assert!(
            only_new
                .verify(&signed(SPEC_SECRET, now(), SPEC_BODY), SPEC_BODY)
                .is_err()
        );
    }

    #[test]
    fn tampered_body_old_or_future_timestamp_and_missing_headers_are_refused() {
        let keys = SigningKeys::parse(SPEC_SECRET).unwrap();
        let tampered = br#"{"email":"evil@example.com","username":"test_user"}"#;
        assert!(
            keys.verify(&signed(SPEC_SECRET, now(), SPEC_BODY), tampered)
                .is_err()
        );
        assert!(
            keys.verify(&signed(SPEC_SECRET, now() - 301, SPEC_BODY), SPEC_BODY)
                .is_err()
        );
        assert!(
            keys.verify(&signed(SPEC_SECRET, now() + 301, SPEC_BODY), SPEC_BODY)
                .is_err()
        );
        for missing in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
            let mut headers = signed(SPEC_SECRET, now(), SPEC_BODY);
            headers.remove(missing);
            assert!(keys.verify(&headers, SPEC_BODY).is_err(), "{missing}");
        }
    }

    #[test]
    fn timestamps_that_are_not_plausible_unix_seconds_are_refused_before_the_library() {
        let keys = SigningKeys::parse(SPEC_SECRET).unwrap();
        // Found by the attack run: the library's tolerance check wraps around for these, so a
        // request signed with them never expired.
        for timestamp in [i64::MIN, i64::MIN + 1_000_000, i64::MAX, -1, 0] {
            let headers = signed(SPEC_SECRET, timestamp, SPEC_BODY);
            assert!(
                keys.verify(&headers, SPEC_BODY).is_err(),
                "timestamp {timestamp} passed"
            );
        }
        // Spellings the library would parse as the same number: a sign, spaces, leading zeros
        // beyond eleven digits.
        let now = now();
        for spelled in [
            format!("+{now}"),
            format!(" {now}"),
            format!("{now} "),
            format!("0{now:0>11}"),
            String::new(),
        ] {
            let mut headers = signed(SPEC_SECRET, now, SPEC_BODY);
            headers.insert(
                "webhook-timestamp",
                HeaderValue::from_str(&spelled).unwrap(),
            );
            assert!(!timestamp_is_fresh(&headers, now as u64), "{spelled:?}");
        }
        // The edges of the window, with the clock given.
        let at = |t: u64| {
            let mut headers = HeaderMap::new();
            headers.insert("webhook-timestamp", HeaderValue::from(t));
            timestamp_is_fresh(&headers, 1_000_000_000)
        };
        assert!(at(1_000_000_000 - 300) && at(1_000_000_000 + 300));
        assert!(!at(1_000_000_000 - 301) && !at(1_000_000_000 + 301));
        assert!(!at(u64::MAX));
    }

    #[test]
    fn the_signer_produces_what_the_keys_accept() {
        let signer = Signer::parse(&format!("{SPEC_SECRET} {OTHER_SECRET}")).unwrap();
        assert_eq!(
            signer.sign(SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY).unwrap(),
            SPEC_SIGNATURE
        );
        let signature = signer.sign(SPEC_ID, now(), SPEC_BODY).unwrap();
        let keys = SigningKeys::parse(SPEC_SECRET).unwrap();
        assert!(
            keys.verify(&headers(SPEC_ID, now(), &signature), SPEC_BODY)
                .is_ok()
        );
        assert_eq!(format!("{signer:?}"), "Signer");
    }

    #[test]
    fn raw_generated_keys_are_accepted() {
        let raw = "Zq8vB3nX0pL5tR7wY2aE4dG6hJ9kM1cV";
        let keys = SigningKeys::parse(raw).unwrap();
        let signature = Webhook::from_bytes(raw.as_bytes().to_vec())
            .unwrap()
            .sign(SPEC_ID, now(), SPEC_BODY)
            .unwrap();
        assert!(
            keys.verify(&headers(SPEC_ID, now(), &signature), SPEC_BODY)
                .is_ok()
        );
    }

    #[test]
    fn empty_short_or_malformed_keys_are_refused_without_echoing_them() {
        assert!(matches!(SigningKeys::parse(" \n"), Err(KeyError::Empty)));
        assert!(matches!(
            SigningKeys::parse("short"),
            Err(KeyError::Invalid(1))
        ));
        let err = SigningKeys::parse(&format!("{SPEC_SECRET} whsec_***notbase64***")).unwrap_err();
        assert!(matches!(err, KeyError::Invalid(2)));
        assert!(!err.to_string().contains("notbase64"));
        assert!(!format!("{:?}", SigningKeys::parse(SPEC_SECRET).unwrap()).contains("C2FV"));
    }
}
