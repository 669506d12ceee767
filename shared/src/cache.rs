//! `ReadCache`: fetch-key's per-container cache of secret versions, bounded and with a TTL.
//!
//! Within the TTL a read costs no Secrets Manager call. After it, the entry is revalidated with
//! DescribeSecret (no value is transferred): if the same version still holds the stage, the entry
//! is kept for another TTL; otherwise the value is read again. Errors are never cached. A write made
//! by another container (update-key, connect-integration) is therefore visible after at most the
//! TTL, or at once with `"refresh": true`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::store::StoredSecret;

/// Default time an entry is served without asking Secrets Manager.
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);
/// Default number of entries kept.
pub const DEFAULT_MAX_ENTRIES: usize = 1000;

/// What the cache knows of a `(secret, stage)`.
#[derive(Debug)]
pub enum Lookup {
    /// Not cached (or the cache is disabled).
    Miss,
    /// Cached and within the TTL: serve it.
    Fresh(StoredSecret),
    /// Cached but past the TTL: serve it only if this version still holds the stage.
    Stale(StoredSecret),
}

struct Entry {
    secret: StoredSecret,
    validated_at: Instant,
    used_at: Instant,
}

/// A bounded map from `(secret name, stage)` to the version last read, evicting the least
/// recently used entry when full.
pub struct ReadCache {
    ttl: Duration,
    max_entries: usize,
    entries: Mutex<HashMap<(String, &'static str), Entry>>,
}

impl std::fmt::Debug for ReadCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadCache")
            .field("ttl", &self.ttl)
            .field("max_entries", &self.max_entries)
            .finish_non_exhaustive()
    }
}

impl ReadCache {
    /// A cache keeping at most `max_entries` for `ttl`; a zero TTL or size disables it.
    pub fn new(ttl: Duration, max_entries: usize) -> Self {
        ReadCache {
            ttl,
            max_entries,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// A cache that keeps nothing.
    pub fn disabled() -> Self {
        Self::new(Duration::ZERO, 0)
    }

    fn enabled(&self) -> bool {
        !self.ttl.is_zero() && self.max_entries > 0
    }

    /// Looks up `(name, stage)`.
    pub fn lookup(&self, name: &str, stage: &'static str) -> Lookup {
        if !self.enabled() {
            return Lookup::Miss;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let Some(entry) = entries.get_mut(&(name.to_owned(), stage)) else {
            return Lookup::Miss;
        };
        let now = Instant::now();
        entry.used_at = now;
        let secret = entry.secret.clone();
        if now.duration_since(entry.validated_at) < self.ttl {
            Lookup::Fresh(secret)
        } else {
            Lookup::Stale(secret)
        }
    }

    /// Stores what was just read (or revalidated) for `(name, stage)`, starting a new TTL.
    pub fn store(&self, name: &str, stage: &'static str, secret: &StoredSecret) {
        if !self.enabled() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let key = (name.to_owned(), stage);
        if !entries.contains_key(&key) && entries.len() >= self.max_entries {
            let oldest = entries
                .iter()
                .min_by_key(|(_, entry)| entry.used_at)
                .map(|(key, _)| key.clone());
            if let Some(oldest) = oldest {
                entries.remove(&oldest);
            }
        }
        let now = Instant::now();
        entries.insert(
            key,
            Entry {
                secret: secret.clone(),
                validated_at: now,
                used_at: now,
            },
        );
    }

    /// Forgets `(name, stage)`, e.g. when it no longer exists.
    pub fn forget(&self, name: &str, stage: &'static str) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.remove(&(name.to_owned(), stage));
    }

    /// How many entries are held.
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(version: &str) -> StoredSecret {
        StoredSecret {
            version_id: version.to_owned(),
            value: "{}".to_owned(),
        }
    }

    #[test]
    fn an_entry_is_fresh_within_the_ttl_then_stale() {
        let cache = ReadCache::new(Duration::from_millis(30), 10);
        cache.store("tenant/a/vapi", "AWSCURRENT", &secret("v1"));
        assert!(
            matches!(cache.lookup("tenant/a/vapi", "AWSCURRENT"), Lookup::Fresh(s) if s.version_id == "v1")
        );
        std::thread::sleep(Duration::from_millis(40));
        assert!(
            matches!(cache.lookup("tenant/a/vapi", "AWSCURRENT"), Lookup::Stale(s) if s.version_id == "v1")
        );
        assert!(matches!(
            cache.lookup("tenant/a/vapi", "AWSPREVIOUS"),
            Lookup::Miss
        ));
    }

    #[test]
    fn the_least_recently_used_entry_goes_when_full() {
        let cache = ReadCache::new(DEFAULT_TTL, 2);
        cache.store("a", "AWSCURRENT", &secret("1"));
        std::thread::sleep(Duration::from_millis(2));
        cache.store("b", "AWSCURRENT", &secret("2"));
        std::thread::sleep(Duration::from_millis(2));
        cache.lookup("a", "AWSCURRENT");
        cache.store("c", "AWSCURRENT", &secret("3"));
        assert_eq!(cache.len(), 2);
        assert!(matches!(cache.lookup("b", "AWSCURRENT"), Lookup::Miss));
        assert!(matches!(cache.lookup("a", "AWSCURRENT"), Lookup::Fresh(_)));
    }

    #[test]
    fn a_zero_ttl_disables_the_cache() {
        let cache = ReadCache::new(Duration::ZERO, 10);
        cache.store("a", "AWSCURRENT", &secret("1"));
        assert!(cache.is_empty());
        assert!(matches!(cache.lookup("a", "AWSCURRENT"), Lookup::Miss));
    }
}
