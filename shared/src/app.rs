//! A function's state for the life of its container, and its construction. It is built from the
//! environment by [`App::from_env`](crate::config) and served by [`crate::http`].

use std::sync::OnceLock;

use crate::Error;
use crate::cache::ReadCache;
use crate::keyring::KeyRing;
use crate::metrics::MetricsWriter;
use crate::ops::DisconnectPolicy;
use crate::outbound::ProviderClient;
use crate::store::SecretStore;

/// One function's state for the life of its container: the store, the signing keys,
/// fetch-key's read cache and disconnect-integration's policy.
#[derive(Debug)]
pub struct App {
    pub(crate) store: SecretStore,
    pub(crate) keys: KeyRing,
    pub(crate) cache: ReadCache,
    pub(crate) disconnect_policy: DisconnectPolicy,
    pub(crate) metrics: MetricsWriter,
    /// Whether fetch-key hands out the full view of non-public fields (`FullViewAllowed`).
    pub(crate) full_view_allowed: bool,
    /// Built on the first request that reaches a provider (`verify`, call-provider).
    provider_client: OnceLock<ProviderClient>,
}

impl App {
    /// Puts a function together from its store, signing keys and read cache, with the default
    /// [`DisconnectPolicy`] and no metrics output ([`App::with_metrics`] adds it).
    pub fn new(store: SecretStore, keys: impl Into<KeyRing>, cache: ReadCache) -> Self {
        App {
            store,
            keys: keys.into(),
            cache,
            disconnect_policy: DisconnectPolicy::default(),
            metrics: MetricsWriter::silent(),
            full_view_allowed: true,
            provider_client: OnceLock::new(),
        }
    }

    /// The same function writing its metrics with `metrics`.
    pub fn with_metrics(self, metrics: MetricsWriter) -> Self {
        App { metrics, ..self }
    }

    /// The same function with fetch-key's full view of non-public fields allowed or not.
    pub fn with_full_view_allowed(self, full_view_allowed: bool) -> Self {
        App {
            full_view_allowed,
            ..self
        }
    }

    /// The same function with another disconnect policy (recovery window, purge allowed).
    pub fn with_disconnect_policy(self, disconnect_policy: DisconnectPolicy) -> Self {
        App {
            disconnect_policy,
            ..self
        }
    }

    /// The HTTP client to providers, built on first use.
    pub(crate) fn provider_client(&self) -> Result<&ProviderClient, Error> {
        if self.provider_client.get().is_none() {
            let _ = self.provider_client.set(ProviderClient::new()?);
        }
        self.provider_client
            .get()
            .ok_or_else(|| Error::Internal("the provider client was not built".into()))
    }

    /// The provider client for a key check; `None` when the request does not verify.
    pub(crate) fn checker(&self, verify: bool) -> Result<Option<&ProviderClient>, Error> {
        verify.then(|| self.provider_client()).transpose()
    }
}
