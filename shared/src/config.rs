//! Start-up: the environment, the Secrets Manager client (built once per container, with
//! timeouts below the function timeout), the signing keys and JSON logging.

use std::time::Duration;

use aws_config::SdkConfig;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::config::Region;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::app::App;
use crate::auth::{KeyError, SigningKeys};
use crate::cache::{DEFAULT_MAX_ENTRIES, DEFAULT_TTL, ReadCache};
use crate::deadline::{Deadline, FALLBACK_BUDGET};
use crate::keyring::{self, KeyRing};
use crate::metrics::MetricsWriter;
use crate::operation::Operation;
use crate::ops::DisconnectPolicy;
use crate::store::{QuotaIsNotRetried, SecretStore, StoreError, VersionChoice};

/// Environment variable naming the webhook signing secret (name or ARN).
pub const WEBHOOK_SECRET_ID_ENV: &str = "WEBHOOK_SECRET_ID";
/// Environment variable naming the region of the tenant secrets, when it is not the function's
/// own region (`AWS_REGION`, which Lambda reserves).
pub const SECRETS_REGION_ENV: &str = "SECRETS_REGION";
/// Environment variable: seconds fetch-key serves a cached read before revalidating (0 disables).
pub const CACHE_TTL_ENV: &str = "FETCH_CACHE_TTL_SECONDS";
/// Environment variable: the most entries fetch-key's cache holds.
pub const CACHE_MAX_ENTRIES_ENV: &str = "FETCH_CACHE_MAX_ENTRIES";
/// Environment variable: the customer-managed KMS key new tenant secrets are encrypted with
/// (empty or unset: Secrets Manager's AWS-managed key).
pub const KMS_KEY_ENV: &str = "TENANT_SECRETS_KMS_KEY_ID";
/// Environment variable: days between a disconnect and the deletion (7–30, default 7).
pub const RECOVERY_DAYS_ENV: &str = "DISCONNECT_RECOVERY_DAYS";
/// Environment variable: `true` allows `purge` (deletion with no recovery); default `false`.
pub const ALLOW_PURGE_ENV: &str = "ALLOW_PURGE";
/// Environment variable: `false` makes fetch-key refuse the full view of non-public fields
/// (`full_view_disabled`), so keys are used only through call-provider; default `true`.
pub const FULL_VIEW_ALLOWED_ENV: &str = "FULL_VIEW_ALLOWED";
/// Environment variable: seconds after which the signing keys are read again (default 60).
pub const SIGNING_KEYS_MAX_AGE_ENV: &str = "SIGNING_KEYS_MAX_AGE_SECONDS";
/// Environment variable: the fewest seconds between two reads of the signing secret after a
/// signature no current key verifies, or a failed read (default 5).
pub const SIGNING_KEYS_RECHECK_ENV: &str = "SIGNING_KEYS_RECHECK_SECONDS";
/// Attempts per Secrets Manager call, the first included (the SDK's standard retry, with jitter).
const SDK_MAX_ATTEMPTS: u32 = 3;
/// Time to open a connection to Secrets Manager.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Time for one attempt of a call.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
/// Time for a call, retries included; a request's deadline may cut it shorter (see
/// [`crate::deadline`]), and the template's default function timeout (15 s) leaves room for
/// one such call plus the other calls of a request.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a function cannot start. It then serves nothing: it never runs unauthenticated.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// `WEBHOOK_SECRET_ID` is unset or empty.
    #[error("{WEBHOOK_SECRET_ID_ENV} is not set; it must name the webhook signing secret")]
    MissingSecretId,
    /// The signing secret could not be read.
    #[error("cannot read the webhook signing secret {secret_id}: {cause}")]
    SecretUnreadable {
        /// The configured secret id.
        secret_id: String,
        /// Why (the store's description, which holds no secret value).
        cause: StoreError,
    },
    /// A numeric setting is not a number.
    #[error("{name} must be a whole number, got {value:?}")]
    BadNumber {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
    },
    /// A setting is outside its allowed values.
    #[error("{name} must be {allowed}, got {value:?}")]
    BadSetting {
        /// The variable.
        name: &'static str,
        /// What it may be.
        allowed: &'static str,
        /// Its value.
        value: String,
    },
    /// The signing secret holds no usable key.
    #[error("the webhook signing secret {secret_id} is not usable: {cause}")]
    BadKeys {
        /// The configured secret id.
        secret_id: String,
        /// Why.
        cause: KeyError,
    },
}

impl App {
    /// Builds a function's state from the environment: the Secrets Manager client (region and
    /// endpoint from the standard AWS variables, e.g. `AWS_REGION`,
    /// `AWS_ENDPOINT_URL_SECRETS_MANAGER`) and the signing keys read from `WEBHOOK_SECRET_ID`
    /// (read again as [`KeyRing`] says, after `SIGNING_KEYS_MAX_AGE_SECONDS`).
    ///
    /// # Errors
    /// [`InitError`] when the secret id is missing or the secret cannot be read or parsed.
    pub async fn from_env() -> Result<App, InitError> {
        let secret_id = std::env::var(WEBHOOK_SECRET_ID_ENV)
            .ok()
            .filter(|id| !id.trim().is_empty())
            .ok_or(InitError::MissingSecretId)?;
        let cache = ReadCache::new(
            Duration::from_secs(number_from_env(CACHE_TTL_ENV, DEFAULT_TTL.as_secs())?),
            number_from_env(CACHE_MAX_ENTRIES_ENV, DEFAULT_MAX_ENTRIES as u64)? as usize,
        );
        let disconnect_policy = disconnect_policy_from_env()?;
        let sdk_config = sdk_config().await;
        // The signing secret lives in the function's own region; tenant secrets in SECRETS_REGION.
        let home = SecretStore::new(client(&sdk_config, None));
        let tenants = match std::env::var(SECRETS_REGION_ENV) {
            Ok(region)
                if !region.is_empty()
                    && Some(region.as_str()) != sdk_config.region().map(|r| r.as_ref()) =>
            {
                SecretStore::new(client(&sdk_config, Some(Region::new(region))))
            }
            _ => home.clone(),
        };
        let tenants = tenants.with_kms_key(
            std::env::var(KMS_KEY_ENV)
                .ok()
                .filter(|key| !key.trim().is_empty()),
        );
        let secret = home
            .get(
                &Deadline::after(FALLBACK_BUDGET),
                &secret_id,
                &VersionChoice::Current,
            )
            .await
            .map_err(|cause| InitError::SecretUnreadable {
                secret_id: secret_id.clone(),
                cause,
            })?;
        let keys = SigningKeys::parse(&secret.value).map_err(|cause| InitError::BadKeys {
            secret_id: secret_id.clone(),
            cause,
        })?;
        let keys = KeyRing::from_secret(
            keys,
            home,
            secret_id,
            Duration::from_secs(number_from_env(
                SIGNING_KEYS_MAX_AGE_ENV,
                keyring::DEFAULT_MAX_AGE.as_secs(),
            )?),
            Duration::from_secs(number_from_env(
                SIGNING_KEYS_RECHECK_ENV,
                keyring::DEFAULT_RECHECK_INTERVAL.as_secs(),
            )?),
        );
        Ok(App::new(tenants, keys, cache)
            .with_disconnect_policy(disconnect_policy)
            .with_full_view_allowed(flag_from_env(FULL_VIEW_ALLOWED_ENV, true)?)
            .with_metrics(MetricsWriter::from_env()))
    }
}

/// What every function binary does: JSON logging, its state built once from the environment
/// ([`App::from_env`]), then serving `operation` until Lambda stops the container. A function
/// that cannot start logs why and serves nothing.
///
/// # Errors
/// The start-up error, or the runtime's.
pub async fn run(operation: Operation) -> Result<(), lambda_http::Error> {
    init_tracing();
    let app = App::from_env().await.inspect_err(|err| {
        tracing::error!(
            error = %err,
            "{} cannot start; it will not serve requests",
            operation.name()
        );
    })?;
    let app = &app;
    lambda_http::run(lambda_http::service_fn(move |request| async move {
        Ok::<_, std::convert::Infallible>(app.handle(operation, request).await)
    }))
    .await
}

/// disconnect-integration's settings from `DISCONNECT_RECOVERY_DAYS` and `ALLOW_PURGE`.
fn disconnect_policy_from_env() -> Result<DisconnectPolicy, InitError> {
    let defaults = DisconnectPolicy::default();
    let days = number_from_env(RECOVERY_DAYS_ENV, u64::from(defaults.recovery_days))?;
    let recovery_days = u8::try_from(days)
        .ok()
        .filter(|days| (7..=30).contains(days))
        .ok_or_else(|| InitError::BadSetting {
            name: RECOVERY_DAYS_ENV,
            allowed: "a number of days from 7 to 30",
            value: days.to_string(),
        })?;
    let allow_purge = flag_from_env(ALLOW_PURGE_ENV, false)?;
    Ok(DisconnectPolicy {
        recovery_days,
        allow_purge,
    })
}

/// `true` or `false` from the environment, or `default` when unset or empty.
fn flag_from_env(name: &'static str, default: bool) -> Result<bool, InitError> {
    match std::env::var(name).as_deref().map(str::trim) {
        Err(_) | Ok("") => Ok(default),
        Ok("true") => Ok(true),
        Ok("false") => Ok(false),
        Ok(other) => Err(InitError::BadSetting {
            name,
            allowed: "true or false",
            value: other.to_owned(),
        }),
    }
}

/// A whole number from the environment, or `default` when unset.
fn number_from_env(name: &'static str, default: u64) -> Result<u64, InitError> {
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(value) => value
            .trim()
            .parse()
            .map_err(|_| InitError::BadNumber { name, value }),
    }
}

/// Environment variable pointing the functions at another Secrets Manager (moto, locally). The
/// template declares it empty, so that `sam local --env-vars` can set it (SAM passes only declared
/// variables); empty means the regional endpoint, as on AWS.
pub const SECRETS_MANAGER_ENDPOINT_ENV: &str = "AWS_ENDPOINT_URL_SECRETS_MANAGER";

/// The endpoint the Secrets Manager client is pointed at, if not the regional one:
/// `AWS_ENDPOINT_URL_SECRETS_MANAGER`, else `AWS_ENDPOINT_URL` (the SDK's order). An empty or
/// blank value is no override (the SDK would take it as an endpoint and fail every call).
pub fn endpoint_override(var: impl Fn(&str) -> Option<String>) -> Option<String> {
    [SECRETS_MANAGER_ENDPOINT_ENV, "AWS_ENDPOINT_URL"]
        .into_iter()
        .find_map(|name| {
            var(name)
                .map(|url| url.trim().to_owned())
                .filter(|url| !url.is_empty())
        })
}

/// The AWS configuration from the standard chain (region, credentials), with tenant-keys'
/// timeouts and retry policy. The endpoint is set per client ([`client`]).
pub async fn sdk_config() -> SdkConfig {
    aws_config::from_env()
        .retry_config(retry_config())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .operation_timeout(OPERATION_TIMEOUT)
                .build(),
        )
        .load()
        .await
}

/// A Secrets Manager client of `sdk_config` (in `region` if given) that never retries
/// LimitExceededException ([`QuotaIsNotRetried`]), at the endpoint of [`endpoint_override`] or
/// the regional one. (The SDK would take an empty `AWS_ENDPOINT_URL_SECRETS_MANAGER` as an
/// endpoint; the override replaces whatever it read.)
pub fn client(sdk_config: &SdkConfig, region: Option<Region>) -> Client {
    let mut config = aws_sdk_secretsmanager::config::Builder::from(sdk_config)
        .retry_classifier(QuotaIsNotRetried);
    config.set_endpoint_url(endpoint_override(|name| std::env::var(name).ok()));
    if let Some(region) = region {
        config = config.region(region);
    }
    Client::from_conf(config.build())
}

/// The retry policy of every Secrets Manager call: the SDK's standard mode (exponential backoff
/// with jitter; throttling, timeouts and 5xx are retried) bounded to three attempts.
pub fn retry_config() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(SDK_MAX_ATTEMPTS)
}

/// Environment variable: the functions' log level (`error`, `warn`, `info`, `debug`). The template
/// sets it from `LogLevel` and leaves Lambda's own filter (`AWS_LAMBDA_LOG_LEVEL`) at TRACE, which
/// would otherwise drop the metrics lines (they carry no level, which Lambda reads as INFO).
pub const LOG_LEVEL_ENV: &str = "TENANT_KEYS_LOG_LEVEL";

/// The log filter of every function: tenant-keys' own events at the level of
/// [`LOG_LEVEL_ENV`], else `AWS_LAMBDA_LOG_LEVEL` (default `info`); other crates, the AWS SDK
/// included, only at `warn` and above, so no request or response of the SDK is ever written out.
/// A fixed per-target filter (no `RUST_LOG` directives, so no regex engine in the binaries).
pub fn log_filter() -> Targets {
    let level = std::env::var(LOG_LEVEL_ENV)
        .or_else(|_| std::env::var("AWS_LAMBDA_LOG_LEVEL"))
        .unwrap_or_default();
    let level = match level.to_ascii_lowercase().as_str() {
        "error" => LevelFilter::ERROR,
        "warn" => LevelFilter::WARN,
        "debug" => LevelFilter::DEBUG,
        _ => LevelFilter::INFO,
    };
    Targets::new()
        .with_default(LevelFilter::WARN)
        .with_target("tenant_keys", level)
}

/// Installs JSON-lines logging on stdout with [`log_filter`].
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .json()
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .finish()
        .with(log_filter())
        .init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_secretsmanager::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
    use futures_util::FutureExt;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        }
    }

    #[test]
    fn an_empty_endpoint_means_the_regional_one() {
        // The template's default: declared, empty.
        assert_eq!(
            endpoint_override(env(&[(SECRETS_MANAGER_ENDPOINT_ENV, "")])),
            None
        );
        assert_eq!(
            endpoint_override(env(&[(SECRETS_MANAGER_ENDPOINT_ENV, "  ")])),
            None
        );
        assert_eq!(endpoint_override(env(&[])), None);
        // With no override, the client resolves Secrets Manager's regional endpoint.
        let params = Params::builder().region("us-east-1").build().unwrap();
        let endpoint = DefaultResolver::new()
            .resolve_endpoint(&params)
            .now_or_never()
            .expect("resolved at once")
            .unwrap();
        assert_eq!(
            endpoint.url(),
            "https://secretsmanager.us-east-1.amazonaws.com"
        );
    }

    /// The environment as the SDK reads it for a service: the template's empty endpoint.
    #[derive(Debug)]
    struct EmptyEndpoint;

    impl aws_types::service_config::LoadServiceConfig for EmptyEndpoint {
        fn load_config(
            &self,
            key: aws_types::service_config::ServiceConfigKey<'_>,
        ) -> Option<String> {
            (key.env() == "AWS_ENDPOINT_URL").then(String::new)
        }
    }

    /// Records the URI a call would go to, and stops it there.
    #[derive(Debug, Clone, Default)]
    struct Destination(std::sync::Arc<std::sync::Mutex<Option<String>>>);

    impl aws_sdk_secretsmanager::config::Intercept for Destination {
        fn name(&self) -> &'static str {
            "Destination"
        }

        fn read_before_transmit(
            &self,
            context: &aws_sdk_secretsmanager::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
            _: &aws_sdk_secretsmanager::config::RuntimeComponents,
            _: &mut aws_sdk_secretsmanager::config::ConfigBag,
        ) -> Result<(), aws_sdk_secretsmanager::error::BoxError> {
            *self.0.lock().unwrap() = Some(context.request().uri().to_owned());
            Err("stopped before sending".into())
        }
    }

    async fn destination(client: Client) -> Option<String> {
        let seen = Destination::default();
        let _ = client
            .describe_secret()
            .secret_id("tenant/org_1/vapi")
            .customize()
            .interceptor(seen.clone())
            .send()
            .await;
        seen.0.lock().unwrap().clone()
    }

    #[tokio::test]
    async fn the_sdk_would_take_an_empty_endpoint_as_one_and_the_client_does_not() {
        let sdk_config = SdkConfig::builder()
            .region(Region::new("us-east-1"))
            .service_config(EmptyEndpoint)
            .credentials_provider(
                aws_sdk_secretsmanager::config::SharedCredentialsProvider::new(
                    aws_sdk_secretsmanager::config::Credentials::new(
                        "test", "test", None, None, "test",
                    ),
                ),
            )
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        // As the SDK reads the template's empty variable: the call panics ("URL was unset").
        let as_read =
            Client::from_conf(aws_sdk_secretsmanager::config::Builder::from(&sdk_config).build());
        let outcome = tokio::spawn(destination(as_read)).await;
        assert!(outcome.is_err_and(|err| err.is_panic()));
        // tenant-keys' client: the regional endpoint (unless this test's own environment
        // overrides it).
        if endpoint_override(|name| std::env::var(name).ok()).is_none() {
            let uri = destination(client(&sdk_config, None)).await.unwrap();
            assert!(
                uri.starts_with("https://secretsmanager.us-east-1.amazonaws.com"),
                "{uri}"
            );
        }
    }

    #[test]
    fn a_set_endpoint_wins_and_the_general_one_stands_in() {
        let local = "http://host.docker.internal:5123";
        assert_eq!(
            endpoint_override(env(&[(SECRETS_MANAGER_ENDPOINT_ENV, local)])).as_deref(),
            Some(local)
        );
        assert_eq!(
            endpoint_override(env(&[
                (SECRETS_MANAGER_ENDPOINT_ENV, ""),
                ("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
            ]))
            .as_deref(),
            Some("http://127.0.0.1:1")
        );
    }
}
