//! The catalog's grammar, one copy for build.rs (which checks every catalog entry with it) and the
//! functions (which fill templates and match values with it): value templates holding `{field}`
//! placeholders, field patterns that match a whole value, and the header names tenant-keys
//! reserves.

/// Headers a catalog entry may not set and a caller may not send through call-provider:
/// tenant-keys sets them (the key, the host, the framing), or they belong to one hop only.
pub const RESERVED_HEADERS: [&str; 15] = [
    "authorization",
    "proxy-authorization",
    "host",
    "cookie",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "upgrade",
    "proxy-connection",
    "accept-encoding",
    "forwarded",
    "x-forwarded-for",
];

/// A piece of a value template (`Token {apiKey}`): text as it is, or a `{field}`'s name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece<'a> {
    /// Text sent as it is.
    Text(&'a str),
    /// The name of the field whose value goes here.
    Field(&'a str),
}

/// The pieces of `template`, in order.
///
/// # Errors
/// A `{` without `}`, or a `}` without `{` (the message names the template, which is catalog
/// text, never a value).
pub fn pieces(template: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut pieces = Vec::new();
    let mut rest = template;
    while !rest.is_empty() {
        match rest.find('{') {
            Some(0) => {
                let after = &rest[1..];
                let end = after
                    .find('}')
                    .ok_or_else(|| format!("{template}: a {{ without }}"))?;
                pieces.push(Piece::Field(&after[..end]));
                rest = &after[end + 1..];
            }
            found => {
                let (text, tail) = rest.split_at(found.unwrap_or(rest.len()));
                if text.contains('}') {
                    return Err(format!("{template}: a }} without {{"));
                }
                pieces.push(Piece::Text(text));
                rest = tail;
            }
        }
    }
    Ok(pieces)
}

/// The names of `template`'s placeholders, in order.
///
/// # Errors
/// As [`pieces`].
pub fn placeholders(template: &str) -> Result<Vec<&str>, String> {
    Ok(pieces(template)?
        .into_iter()
        .filter_map(|piece| match piece {
            Piece::Field(name) => Some(name),
            Piece::Text(_) => None,
        })
        .collect())
}

/// `pattern` compiled to match a whole value (anchored at both ends).
///
/// # Errors
/// When `pattern` is not a regular expression.
pub fn anchored(pattern: &str) -> Result<regex_lite::Regex, regex_lite::Error> {
    regex_lite::Regex::new(&format!("^(?:{pattern})$"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_is_text_and_field_names_in_order() {
        assert_eq!(
            pieces("/a/{accountSid}.json?k={apiKey}{x}").unwrap(),
            [
                Piece::Text("/a/"),
                Piece::Field("accountSid"),
                Piece::Text(".json?k="),
                Piece::Field("apiKey"),
                Piece::Field("x"),
            ]
        );
        assert_eq!(pieces("").unwrap(), []);
        assert_eq!(placeholders("Token {apiKey}").unwrap(), ["apiKey"]);
    }

    #[test]
    fn unpaired_braces_are_refused() {
        for template in ["{apiKey", "apiKey}", "a}{b}", "Token {"] {
            assert!(pieces(template).is_err(), "{template}");
        }
    }

    #[test]
    fn a_pattern_matches_the_whole_value() {
        let re = anchored("tk_[a-z]+|x").unwrap();
        assert!(re.is_match("tk_abc") && re.is_match("x"));
        assert!(!re.is_match("tk_abc1") && !re.is_match("ax"));
    }
}
