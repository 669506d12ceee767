//! The provider registry: which third-party services tenant-keys stores keys for, and their fields.
//!
//! It is data, not code paths: adding a provider is one entry in [`PROVIDERS`].

use crate::Error;

/// One credential field of a provider.
#[derive(Debug)]
pub struct Field {
    /// The field's name in requests, responses and the stored JSON (camelCase).
    pub name: &'static str,
    /// Whether fetch-key's `public` view may return it (safe to ship to a browser).
    pub public: bool,
}

/// A provider and the fields its credentials consist of. Every field is required on connect.
#[derive(Debug)]
pub struct Provider {
    /// The provider's id in requests and in the secret name (`tenant/<tenantId>/<id>`).
    pub id: &'static str,
    /// The credential fields, all required.
    pub fields: &'static [Field],
}

/// Every provider tenant-keys knows.
pub static PROVIDERS: &[Provider] = &[
    Provider {
        id: "vapi",
        fields: &[
            Field {
                name: "publicApiKey",
                public: true,
            },
            Field {
                name: "privateApiKey",
                public: false,
            },
        ],
    },
    Provider {
        id: "openai",
        fields: &[Field {
            name: "apiKey",
            public: false,
        }],
    },
];

impl Provider {
    /// Looks a provider up by id.
    pub fn find(id: &str) -> Option<&'static Provider> {
        PROVIDERS.iter().find(|p| p.id == id)
    }

    /// Looks a provider up by id, as a request field.
    ///
    /// # Errors
    /// [`Error::UnknownProvider`] when no provider has this id.
    pub fn parse(id: &str) -> Result<&'static Provider, Error> {
        Self::find(id).ok_or_else(|| {
            let known: Vec<&str> = PROVIDERS.iter().map(|p| p.id).collect();
            Error::UnknownProvider(format!("provider must be one of: {}", known.join(", ")))
        })
    }

    /// The field called `name`, if this provider has one.
    pub fn field(&self, name: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vapi_has_a_public_and_a_private_key() {
        let vapi = Provider::find("vapi").unwrap();
        assert!(vapi.field("publicApiKey").unwrap().public);
        assert!(!vapi.field("privateApiKey").unwrap().public);
        assert!(vapi.field("publicAPIKey").is_none());
    }

    #[test]
    fn unknown_provider_is_rejected_with_its_code() {
        let err = Provider::parse("stripe").unwrap_err();
        assert_eq!(err.code(), "unknown_provider");
        assert!(err.detail().contains("vapi"));
    }

    #[test]
    fn provider_ids_are_unique() {
        for (i, p) in PROVIDERS.iter().enumerate() {
            assert!(PROVIDERS[i + 1..].iter().all(|q| q.id != p.id), "{}", p.id);
        }
    }
}
