//! `ReadCache`: fetch-key's per-container cache of secret versions, bounded and with a TTL.
//!
//! Each read says how old a cached value it accepts (`max_age`, never more than the TTL): the
//! public view accepts the TTL by default, full and masked reads nothing (they are fresh) unless
//! the caller sets `maxAgeSeconds`. An entry older than that is revalidated with DescribeSecret
//! (no value is transferred): if the secret is not scheduled for deletion and the same version
//! still holds the stage, the entry counts as fresh again; otherwise the value is read again.
//! Errors are never cached.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::store::{StoredSecret, VersionChoice};

/// Default time an entry is served without asking Secrets Manager.
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);
/// Default number of entries kept.
pub const DEFAULT_MAX_ENTRIES: usize = 1000;

/// What the cache knows of a `(secret, stage)`.
#[derive(Debug)]
pub enum Lookup {
    /// Not cached (or the cache is disabled).
    Miss,
    /// Cached and younger than the age asked for: serve it.
    Fresh(StoredSecret),
    /// Cached but older: serve it only once revalidated.
    Stale(StoredSecret),
}

struct Entry {
    secret: StoredSecret,
    validated_at: Instant,
    used_at: Instant,
}

/// A bounded map from `(secret name, stage or version id)` to the version last read, evicting
/// the least recently used entry when full.
pub struct ReadCache {
    ttl: Duration,
    max_entries: usize,
    entries: Mutex<HashMap<(String, String), Entry>>,
}

/// The cache key of a read.
fn key(name: &str, version: &VersionChoice) -> (String, String) {
    let version = match version {
        VersionChoice::Id(id) => format!("version:{id}"),
        stage => format!("stage:{}", stage.stage().unwrap_or_default()),
    };
    (name.to_owned(), version)
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

    /// The longest a value is served without asking Secrets Manager.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Looks up a read of `name`, accepting a value validated less than `max_age` ago (capped at
    /// the TTL). A zero `max_age` always misses.
    pub fn lookup(&self, name: &str, version: &VersionChoice, max_age: Duration) -> Lookup {
        let max_age = max_age.min(self.ttl);
        if !self.enabled() || max_age.is_zero() {
            return Lookup::Miss;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let Some(entry) = entries.get_mut(&key(name, version)) else {
            return Lookup::Miss;
        };
        let now = Instant::now();
        entry.used_at = now;
        let secret = entry.secret.clone();
        if now.duration_since(entry.validated_at) < max_age {
            Lookup::Fresh(secret)
        } else {
            Lookup::Stale(secret)
        }
    }

    /// Stores what was just read (or revalidated) for a read of `name`, starting a new TTL.
    pub fn store(&self, name: &str, version: &VersionChoice, secret: &StoredSecret) {
        if !self.enabled() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let key = key(name, version);
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

    /// Forgets a read of `name`, e.g. when it no longer exists.
    pub fn forget(&self, name: &str, version: &VersionChoice) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.remove(&key(name, version));
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

    const CURRENT: &VersionChoice = &VersionChoice::Current;
    const ANY_AGE: Duration = Duration::MAX;

    #[test]
    fn an_entry_is_fresh_within_the_ttl_then_stale() {
        let cache = ReadCache::new(Duration::from_millis(30), 10);
        cache.store("tenant/a/vapi", CURRENT, &secret("v1"));
        assert!(
            matches!(cache.lookup("tenant/a/vapi", CURRENT, ANY_AGE), Lookup::Fresh(s) if s.version_id == "v1")
        );
        std::thread::sleep(Duration::from_millis(40));
        assert!(
            matches!(cache.lookup("tenant/a/vapi", CURRENT, ANY_AGE), Lookup::Stale(s) if s.version_id == "v1")
        );
        assert!(matches!(
            cache.lookup("tenant/a/vapi", &VersionChoice::Previous, ANY_AGE),
            Lookup::Miss
        ));
        assert!(matches!(
            cache.lookup("tenant/a/vapi", &VersionChoice::Id("v1".into()), ANY_AGE),
            Lookup::Miss
        ));
    }

    #[test]
    fn a_read_gets_no_older_value_than_it_asks_for() {
        let cache = ReadCache::new(DEFAULT_TTL, 10);
        cache.store("a", CURRENT, &secret("v1"));
        assert!(matches!(
            cache.lookup("a", CURRENT, Duration::ZERO),
            Lookup::Miss
        ));
        std::thread::sleep(Duration::from_millis(20));
        assert!(matches!(
            cache.lookup("a", CURRENT, Duration::from_millis(10)),
            Lookup::Stale(_)
        ));
        assert!(matches!(
            cache.lookup("a", CURRENT, Duration::from_secs(60)),
            Lookup::Fresh(_)
        ));
    }

    #[test]
    fn the_least_recently_used_entry_goes_when_full() {
        let cache = ReadCache::new(DEFAULT_TTL, 2);
        cache.store("a", CURRENT, &secret("1"));
        std::thread::sleep(Duration::from_millis(2));
        cache.store("b", CURRENT, &secret("2"));
        std::thread::sleep(Duration::from_millis(2));
        cache.lookup("a", CURRENT, ANY_AGE);
        cache.store("c", CURRENT, &secret("3"));
        assert_eq!(cache.len(), 2);
        assert!(matches!(cache.lookup("b", CURRENT, ANY_AGE), Lookup::Miss));
        assert!(matches!(
            cache.lookup("a", CURRENT, ANY_AGE),
            Lookup::Fresh(_)
        ));
    }

    #[test]
    fn a_zero_ttl_disables_the_cache() {
        let cache = ReadCache::new(Duration::ZERO, 10);
        cache.store("a", CURRENT, &secret("1"));
        assert!(cache.is_empty());
        assert!(matches!(cache.lookup("a", CURRENT, ANY_AGE), Lookup::Miss));
    }
}
