//! `TenantId`: the validated id of a tenant (organization) and the secret names derived from it.

use crate::Error;
use crate::provider::Provider;

/// Longest accepted tenant id, in characters.
pub const MAX_TENANT_ID_LEN: usize = 128;

/// A tenant id that is safe to put in a secret name: 1–128 characters of `[A-Za-z0-9_-]`, the
/// first a letter or digit. Holding one means it is valid.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TenantId(String);

impl TenantId {
    /// Parses a raw tenant id.
    ///
    /// # Errors
    /// [`Error::InvalidTenantId`] when the id is empty, too long, or has a character outside the
    /// allowed set (slashes, dots, spaces, `%`, non-ASCII…). The detail never echoes the input.
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let invalid = |why: &str| Err(Error::InvalidTenantId(format!("tenantId {why}")));
        let Some(first) = raw.chars().next() else {
            return invalid("must not be empty");
        };
        if raw.len() > MAX_TENANT_ID_LEN {
            return invalid("must be at most 128 characters");
        }
        if !first.is_ascii_alphanumeric() {
            return invalid("must start with a letter or digit");
        }
        if !raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return invalid("may only contain ASCII letters, digits, '_' and '-'");
        }
        Ok(TenantId(raw.to_owned()))
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name of this tenant's secret for `provider`: `tenant/<tenantId>/<provider>`.
    pub fn secret_name(&self, provider: &Provider) -> String {
        format!("tenant/{}/{}", self.0, provider.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::Provider;

    #[test]
    fn clerk_style_ids_are_accepted() {
        for id in ["org_2abcDEF123", "a", "9-tenant_x", &"a".repeat(128)] {
            assert_eq!(TenantId::parse(id).unwrap().as_str(), id);
        }
    }

    #[test]
    fn ids_that_could_escape_the_tenant_prefix_are_rejected() {
        for id in [
            "",
            "org_1/../org_2",
            "org_1/vapi",
            "..",
            ".hidden",
            "org 1",
            "org%2F1",
            "_org",
            "-org",
            "org\u{0}",
            "orgé",
            "org\u{ff0f}1",
            "org.1",
            &"a".repeat(129),
        ] {
            let err = TenantId::parse(id).unwrap_err();
            assert_eq!(err.code(), "invalid_tenant_id", "{id:?}");
        }
    }

    #[test]
    fn secret_name_is_tenant_slash_id_slash_provider() {
        let tenant = TenantId::parse("org_2abc").unwrap();
        let vapi = Provider::find("vapi").unwrap();
        assert_eq!(tenant.secret_name(vapi), "tenant/org_2abc/vapi");
    }
}
