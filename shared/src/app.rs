//! A function's state for the life of its container, and its construction. It is built from the
//! environment by [`App::from_env`](crate::config) and served by [`crate::http`].

use std::sync::OnceLock;

use crate::Error;
use crate::cache::ReadCache;
use crate::keyring::KeyRing;
use crate::metrics::MetricsWriter;
use crate::ops::DisconnectPolicy;
use crate::store::SecretStore;
use crate::verify::ProviderChecker;

/// One function's state for the life of its container: the store, the signing keys,
/// fetch-key's read cache and disconnect-integration's policy.
#[derive(Debug)]
pub struct App {
    pub(crate) store: SecretStore,
    pub(crate) keys: KeyRing,
    pub(crate) cache: ReadCache,
    pub(crate) disconnect_policy: DisconnectPolicy,
    pub(crate) metrics: MetricsWriter,
    /// Built on the first request that asks to `verify`.
    checker: OnceLock<ProviderChecker>,
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
            checker: OnceLock::new(),
        }
    }

    /// The same function writing its metrics with `metrics`.
    pub fn with_metrics(self, metrics: MetricsWriter) -> Self {
        App { metrics, ..self }
    }

    /// The same function with another disconnect policy (recovery window, purge allowed).
    pub fn with_disconnect_policy(self, disconnect_policy: DisconnectPolicy) -> Self {
        App {
            disconnect_policy,
            ..self
        }
    }

    /// The provider checker, built on first use; `None` when the request does not verify.
    pub(crate) fn checker(&self, verify: bool) -> Result<Option<&ProviderChecker>, Error> {
        if !verify {
            return Ok(None);
        }
        if self.checker.get().is_none() {
            let _ = self.checker.set(ProviderChecker::new()?);
        }
        Ok(self.checker.get())
    }
}
