//! `Deadline`: the time a request has left, from the Lambda context's deadline, so that every
//! request is answered by us (with `503 upstream_unavailable` and `Retry-After` if Secrets Manager
//! is too slow) before Lambda ends the invocation and API Gateway answers a bare 5xx.
//!
//! Each Secrets Manager call is started only if at least [`MIN_CALL_TIME`] remains, and is cut
//! off when the time is up. Nothing is half-written by a cut: every write is one atomic call
//! whose token makes its retry a no-op, and a version only becomes current through the last,
//! atomic compare-and-swap; a retry with the same `webhook-id` settles the outcome.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use crate::Error;

/// The request's time is up: a call was not started, or was cut off, or a pause would leave no
/// time for the next call. Answered `503 upstream_unavailable` (with `Retry-After`).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TimeUp(&'static str);

impl From<TimeUp> for Error {
    fn from(_: TimeUp) -> Self {
        Error::UpstreamUnavailable
    }
}

/// Time kept back from the Lambda deadline to write the answer and the log line.
pub const ANSWER_MARGIN: Duration = Duration::from_millis(500);
/// A call is not started with less time than this left (a GetSecretValue on a new TLS
/// connection takes ~180 ms).
pub const MIN_CALL_TIME: Duration = Duration::from_millis(250);
/// The time a request gets when the context's deadline is missing or already past on arrival.
/// A real Lambda deadline is always in the future; cargo-lambda's emulator sends
/// `Lambda-Runtime-Deadline-Ms: 600000` (a duration, read as 1970 by the runtime).
pub const FALLBACK_BUDGET: Duration = Duration::from_secs(10);

/// The instant by which a request's Secrets Manager work must be over, and how many calls the
/// request started under it (every call goes through [`Deadline::bound`]; the metrics report it).
#[derive(Debug)]
pub struct Deadline {
    at: Instant,
    calls: AtomicU32,
}

impl Deadline {
    /// The deadline of a request whose Lambda deadline is `deadline_ms` (milliseconds since the
    /// Unix epoch, as the Runtime API sends it), less [`ANSWER_MARGIN`]. A deadline that is
    /// already past on arrival is not a real one: the request gets [`FALLBACK_BUDGET`].
    pub fn from_lambda_deadline_ms(deadline_ms: u64) -> Self {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let remaining = match deadline_ms.checked_sub(now_ms) {
            Some(ms) if ms > 0 => Duration::from_millis(ms).saturating_sub(ANSWER_MARGIN),
            _ => FALLBACK_BUDGET,
        };
        Self::after(remaining)
    }

    /// A deadline `budget` from now.
    pub fn after(budget: Duration) -> Self {
        Deadline {
            at: Instant::now() + budget,
            calls: AtomicU32::new(0),
        }
    }

    /// The Secrets Manager calls started under this deadline.
    pub fn calls(&self) -> u32 {
        self.calls.load(Ordering::Relaxed)
    }

    /// The time left.
    pub fn remaining(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }

    /// Runs one Secrets Manager call within the time left, and counts it.
    ///
    /// # Errors
    /// [`TimeUp`] without starting the call when less than [`MIN_CALL_TIME`] is left, or when
    /// the call has not finished by the deadline.
    pub async fn bound<F: Future>(&self, call: F) -> Result<F::Output, TimeUp> {
        self.within(self.remaining(), || {
            self.calls.fetch_add(1, Ordering::Relaxed);
            call
        })
        .await
    }

    /// Runs a call (started by `start`) for at most `limit` and never past the deadline; it is
    /// not started when less than [`MIN_CALL_TIME`] is left.
    ///
    /// # Errors
    /// [`TimeUp`] when the call was not started or did not finish in time.
    pub async fn within<F: Future>(
        &self,
        limit: Duration,
        start: impl FnOnce() -> F,
    ) -> Result<F::Output, TimeUp> {
        let remaining = self.remaining();
        if remaining < MIN_CALL_TIME {
            return Err(TimeUp(
                "not enough time left before the function's deadline for another call",
            ));
        }
        tokio::time::timeout(remaining.min(limit), start())
            .await
            .map_err(|_| TimeUp("the call did not finish before the deadline"))
    }

    /// Sleeps for `pause`, or fails at once if the pause would leave less than [`MIN_CALL_TIME`].
    ///
    /// # Errors
    /// [`TimeUp`] when there is no time for another round after the pause.
    pub async fn pause(&self, pause: Duration) -> Result<(), TimeUp> {
        if self.remaining() < pause + MIN_CALL_TIME {
            return Err(TimeUp(
                "no time left before the function's deadline for another round",
            ));
        }
        tokio::time::sleep(pause).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch_ms_in(offset: Duration) -> u64 {
        (SystemTime::now() + offset)
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64
    }

    #[test]
    fn a_lambda_deadline_leaves_the_answer_margin() {
        let deadline = Deadline::from_lambda_deadline_ms(epoch_ms_in(Duration::from_secs(3)));
        let remaining = deadline.remaining();
        assert!(remaining <= Duration::from_millis(2500), "{remaining:?}");
        assert!(remaining > Duration::from_millis(2300), "{remaining:?}");
    }

    #[test]
    fn a_deadline_already_past_gets_the_fallback_budget() {
        for past in [0, 600_000, epoch_ms_in(Duration::ZERO) - 1000] {
            let remaining = Deadline::from_lambda_deadline_ms(past).remaining();
            assert!(remaining > FALLBACK_BUDGET - Duration::from_millis(100));
        }
    }

    #[tokio::test]
    async fn no_call_starts_without_enough_time() {
        let deadline = Deadline::after(MIN_CALL_TIME / 2);
        let mut started = false;
        let result = deadline.bound(async { started = true }).await;
        assert!(result.is_err());
        assert!(!started);
        assert_eq!(deadline.calls(), 0);
    }

    #[tokio::test]
    async fn a_call_that_outlasts_the_deadline_is_cut_off() {
        let deadline = Deadline::after(Duration::from_millis(300));
        let started = Instant::now();
        let result = deadline
            .bound(tokio::time::sleep(Duration::from_secs(5)))
            .await;
        assert!(result.is_err());
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!(deadline.calls(), 1);
    }
}
