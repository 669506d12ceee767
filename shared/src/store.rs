//! The Secrets Manager adapter: the only module that knows the SDK's operations and error types.
//!
//! It offers what the operations need — create, put, read by stage or version, the version map
//! (with dates and the deletion mark), the compare-and-swap move of `AWSCURRENT`, scheduled or
//! immediate deletion and restore — and sorts every SDK failure into a [`StoreError`]. Every call is bounded by the request's [`Deadline`].

use std::collections::HashMap;
use std::fmt;

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::config::interceptors::InterceptorContext;
use aws_sdk_secretsmanager::config::retry::{ClassifyRetry, RetryAction};
use aws_sdk_secretsmanager::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_secretsmanager::operation::create_secret::CreateSecretError;
use aws_sdk_secretsmanager::operation::put_secret_value::PutSecretValueError;
use aws_sdk_secretsmanager::primitives::DateTimeFormat;
use aws_sdk_secretsmanager::types::Tag;

use crate::Error;
use crate::deadline::{Deadline, TimeUp};

/// The stage label of the version callers read by default.
pub const STAGE_CURRENT: &str = "AWSCURRENT";
/// The stage label Secrets Manager moves to the version that was current before the last write.
pub const STAGE_PREVIOUS: &str = "AWSPREVIOUS";
/// Our private label for a version written but not yet made current (compare-and-swap).
pub const STAGE_PENDING: &str = "tenant-keys-pending";

/// How a Secrets Manager call failed, in the terms the operations decide on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// CreateSecret: the name is taken. PutSecretValue: this token was used with another value.
    #[error("the secret or version already exists")]
    AlreadyExists,
    /// No such secret, or no version with that stage or id.
    #[error("the secret or version does not exist")]
    NotFound,
    /// UpdateSecretVersionStage: the version to move the label from no longer holds it.
    #[error("the stage label is no longer on the expected version")]
    StageMoved,
    /// Secrets Manager refuses the call in the secret's state (e.g. scheduled for deletion).
    #[error("the secret cannot be changed in its present state")]
    Refused,
    /// LimitExceededException: AWS's quota of versions per secret (about 100 created within 24 h)
    /// is spent. Not retried: it lasts hours, not seconds.
    #[error("Secrets Manager's version quota for this secret is spent")]
    QuotaExceeded,
    /// Throttled, timed out, unreachable or failing with 5xx after the SDK's retries.
    #[error("Secrets Manager is unavailable: {0}")]
    Unavailable(String),
    /// A parameter was refused; for UpdateSecretVersionStage this means the stage moved.
    #[error("Secrets Manager refused a parameter: {0}")]
    InvalidParameter(String),
    /// Anything else (access denied, a malformed call…), with the SDK's description.
    #[error("Secrets Manager call failed: {0}")]
    Other(String),
}

impl From<TimeUp> for StoreError {
    fn from(time_up: TimeUp) -> Self {
        StoreError::Unavailable(time_up.to_string())
    }
}

impl From<StoreError> for Error {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => {
                Error::NotFound("no credentials are connected for this tenant and provider".into())
            }
            StoreError::StageMoved => Error::VersionConflict(
                "the credentials changed concurrently; fetch them and retry".into(),
            ),
            StoreError::Refused => Error::SecretUnavailable,
            StoreError::QuotaExceeded => Error::TooManyWrites,
            StoreError::Unavailable(_) => Error::UpstreamUnavailable,
            StoreError::AlreadyExists | StoreError::InvalidParameter(_) | StoreError::Other(_) => {
                Error::Internal(err.to_string())
            }
        }
    }
}

/// Which version of a secret to read: fetch-key's `version` / `versionId`, and every read of the
/// store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionChoice {
    /// `AWSCURRENT`.
    Current,
    /// `AWSPREVIOUS`: the value before the last write.
    Previous,
    /// The version with this id (`versionId`).
    Id(String),
}

impl VersionChoice {
    /// The stage label this choice reads, `None` for a version by id.
    pub fn stage(&self) -> Option<&'static str> {
        match self {
            VersionChoice::Current => Some(STAGE_CURRENT),
            VersionChoice::Previous => Some(STAGE_PREVIOUS),
            VersionChoice::Id(_) => None,
        }
    }
}

/// One version of a secret as read. `Debug` hides the value.
#[derive(Clone)]
pub struct StoredSecret {
    /// The version's id.
    pub version_id: String,
    /// The version's SecretString.
    pub value: String,
}

impl fmt::Debug for StoredSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredSecret")
            .field("version_id", &self.version_id)
            .field("value", &"<redacted>")
            .finish()
    }
}

/// What DescribeSecret tells of a secret (never its value): its labelled versions
/// (`VersionIdsToStages`), its dates and, when it is scheduled for deletion, when (`DeletedDate`).
/// Dates are RFC 3339.
#[derive(Debug, Default)]
pub struct Description {
    stages: HashMap<String, Vec<String>>,
    /// `Some` when the secret is scheduled for deletion: the date it will be deleted.
    pub deletion_date: Option<String>,
    /// When the secret was created.
    pub created_date: Option<String>,
    /// When the secret (its value or metadata) last changed.
    pub last_changed_date: Option<String>,
    /// The secret's tags, by key.
    pub tags: HashMap<String, String>,
}

impl Description {
    /// Whether the version `version_id` holds `stage`.
    pub fn holds(&self, version_id: &str, stage: &str) -> bool {
        self.stages
            .get(version_id)
            .is_some_and(|stages| stages.iter().any(|s| s == stage))
    }

    /// The id of the version holding `stage`, if any.
    pub fn holding(&self, stage: &str) -> Option<&str> {
        self.stages
            .iter()
            .find(|(_, stages)| stages.iter().any(|s| s == stage))
            .map(|(id, _)| id.as_str())
    }
}

/// One version of a secret as ListSecretVersionIds lists it, labelled or not.
#[derive(Debug, Clone)]
pub struct ListedVersion {
    /// The version's id.
    pub id: String,
    /// When it was created, in Unix seconds (fractions kept).
    pub created: Option<f64>,
}

/// What a [`SecretStore::put_pending`] found or did.
#[derive(Debug)]
pub struct PutOutcome {
    /// The version id (the token).
    pub version_id: String,
    /// The labels the version holds now: `[STAGE_PENDING]` after a fresh write; after a replay,
    /// whatever the existing version holds (`AWSCURRENT`, `AWSPREVIOUS`, or nothing).
    pub stages: Vec<String>,
}

impl PutOutcome {
    /// Whether the version holds `stage`.
    pub fn holds(&self, stage: &str) -> bool {
        self.stages.iter().any(|s| s == stage)
    }
}

/// Secrets Manager, through a client built once per container.
#[derive(Debug, Clone)]
pub struct SecretStore {
    client: Client,
    kms_key_id: Option<String>,
}

impl SecretStore {
    /// Wraps a configured client; new secrets use Secrets Manager's AWS-managed key.
    pub fn new(client: Client) -> Self {
        SecretStore {
            client,
            kms_key_id: None,
        }
    }

    /// The same store, creating new secrets encrypted with the KMS key `kms_key_id` (if any).
    pub fn with_kms_key(self, kms_key_id: Option<String>) -> Self {
        SecretStore { kms_key_id, ..self }
    }

    /// CreateSecret with `token` as the first version's id. Returns that version id.
    ///
    /// # Errors
    /// [`StoreError::AlreadyExists`] when the name is taken by a secret without a version `token`
    /// of this value (AWS ignores, and answers as a success, a call whose token and value match
    /// an existing version), [`StoreError::Refused`] when the name is scheduled for deletion.
    pub async fn create(
        &self,
        deadline: &Deadline,
        name: &str,
        value: &str,
        token: &str,
        tags: &[(&str, &str)],
    ) -> Result<String, StoreError> {
        let call = self
            .client
            .create_secret()
            .name(name)
            .secret_string(value)
            .client_request_token(token)
            .set_kms_key_id(self.kms_key_id.clone())
            .set_tags(Some(sdk_tags(tags)))
            .send();
        let output = deadline.bound(call).await?.map_err(classify)?;
        Ok(output.version_id().unwrap_or(token).to_owned())
    }

    /// PutSecretValue with `token` as the new version's id, labelled [`STAGE_PENDING`] only (so
    /// `AWSCURRENT` does not move; [`SecretStore::move_current`] moves it). Repeating a call with
    /// the same token and value does nothing: Secrets Manager then answers with the labels the
    /// existing version holds now, which is how a replay is told from a fresh write.
    ///
    /// # Errors
    /// [`StoreError::AlreadyExists`] when `token` was used before with a different value;
    /// [`StoreError::NotFound`] when the secret does not exist; [`StoreError::QuotaExceeded`].
    pub async fn put_pending(
        &self,
        deadline: &Deadline,
        name: &str,
        value: &str,
        token: &str,
    ) -> Result<PutOutcome, StoreError> {
        let call = self
            .client
            .put_secret_value()
            .secret_id(name)
            .secret_string(value)
            .client_request_token(token)
            .version_stages(STAGE_PENDING)
            .send();
        let output = deadline.bound(call).await?.map_err(classify)?;
        Ok(PutOutcome {
            version_id: output.version_id().unwrap_or(token).to_owned(),
            stages: output.version_stages().to_vec(),
        })
    }

    /// GetSecretValue of one version. The stage is always passed explicitly (a plain read of a
    /// secret whose stage was moved is wrong in moto).
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when the secret or the version does not exist;
    /// [`StoreError::Other`] when the secret holds binary data.
    pub async fn get(
        &self,
        deadline: &Deadline,
        name: &str,
        version: &VersionChoice,
    ) -> Result<StoredSecret, StoreError> {
        let request = self.client.get_secret_value().secret_id(name);
        let request = match version {
            VersionChoice::Id(id) => request.version_id(id),
            stage => request.set_version_stage(stage.stage().map(str::to_owned)),
        };
        let output = deadline.bound(request.send()).await?.map_err(classify)?;
        let (Some(version_id), Some(value)) = (output.version_id(), output.secret_string()) else {
            return Err(StoreError::Other(
                "the secret has no version id or no SecretString".into(),
            ));
        };
        Ok(StoredSecret {
            version_id: version_id.to_owned(),
            value: value.to_owned(),
        })
    }

    /// DescribeSecret's map of labelled versions and deletion mark (no value is read).
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when the secret does not exist.
    pub async fn describe(
        &self,
        deadline: &Deadline,
        name: &str,
    ) -> Result<Description, StoreError> {
        let call = self.client.describe_secret().secret_id(name).send();
        let output = deadline.bound(call).await?.map_err(classify)?;
        Ok(Description {
            stages: output.version_ids_to_stages().cloned().unwrap_or_default(),
            deletion_date: output.deleted_date().and_then(rfc3339),
            created_date: output.created_date().and_then(rfc3339),
            last_changed_date: output.last_changed_date().and_then(rfc3339),
            tags: output
                .tags()
                .iter()
                .filter_map(|tag| Some((tag.key()?.to_owned(), tag.value()?.to_owned())))
                .collect(),
        })
    }

    /// Every version of a secret, labelled or not (ListSecretVersionIds with
    /// `IncludeDeprecated`, every page). AWS keeps a version that has lost its labels for at least
    /// 24 hours (it prunes unlabelled versions beyond 100, and none younger than a day), while
    /// DescribeSecret lists only labelled ones: this list is the secret's record of every write,
    /// which is how a replayed webhook-id is told apart.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when the secret does not exist.
    pub async fn all_versions(
        &self,
        deadline: &Deadline,
        name: &str,
    ) -> Result<Vec<ListedVersion>, StoreError> {
        let mut listed = Vec::new();
        let mut next_token: Option<String> = None;
        loop {
            let call = self
                .client
                .list_secret_version_ids()
                .secret_id(name)
                .include_deprecated(true)
                .max_results(100)
                .set_next_token(next_token.take())
                .send();
            let output = deadline.bound(call).await?.map_err(classify)?;
            listed.extend(output.versions().iter().filter_map(|version| {
                Some(ListedVersion {
                    id: version.version_id()?.to_owned(),
                    created: version.created_date().map(|date| date.as_secs_f64()),
                })
            }));
            match output.next_token() {
                Some(token) if !token.is_empty() => next_token = Some(token.to_owned()),
                _ => return Ok(listed),
            }
        }
    }

    /// TagResource: sets `tags` on an existing secret (other tags stay).
    ///
    /// # Errors
    /// [`StoreError::NotFound`]; [`StoreError::Refused`] when the secret is scheduled for
    /// deletion.
    pub async fn tag(
        &self,
        deadline: &Deadline,
        name: &str,
        tags: &[(&str, &str)],
    ) -> Result<(), StoreError> {
        let call = self
            .client
            .tag_resource()
            .secret_id(name)
            .set_tags(Some(sdk_tags(tags)))
            .send();
        deadline.bound(call).await?.map_err(classify)?;
        Ok(())
    }

    /// UntagResource: removes the tags `keys` from a secret.
    ///
    /// # Errors
    /// [`StoreError::NotFound`]; [`StoreError::Refused`] when the secret is scheduled for
    /// deletion.
    pub async fn untag(
        &self,
        deadline: &Deadline,
        name: &str,
        keys: &[String],
    ) -> Result<(), StoreError> {
        let call = self
            .client
            .untag_resource()
            .secret_id(name)
            .set_tag_keys(Some(keys.to_vec()))
            .send();
        deadline.bound(call).await?.map_err(classify)?;
        Ok(())
    }

    /// DeleteSecret: schedules the deletion after `recovery_days` (7–30), or, with `None`,
    /// deletes at once with no recovery (ForceDeleteWithoutRecovery). Returns the deletion date.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when the secret does not exist; [`StoreError::Refused`] when it
    /// is already scheduled for deletion (and a recovery window was asked for).
    pub async fn delete(
        &self,
        deadline: &Deadline,
        name: &str,
        recovery_days: Option<u8>,
    ) -> Result<String, StoreError> {
        let request = self.client.delete_secret().secret_id(name);
        let request = match recovery_days {
            Some(days) => request.recovery_window_in_days(i64::from(days)),
            None => request.force_delete_without_recovery(true),
        };
        let output = deadline.bound(request.send()).await?.map_err(classify)?;
        output
            .deletion_date()
            .and_then(rfc3339)
            .ok_or_else(|| StoreError::Other("DeleteSecret answered without a DeletionDate".into()))
    }

    /// RestoreSecret: cancels a scheduled deletion; the secret works again with its versions.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when the secret does not exist (or was deleted for good).
    pub async fn restore(&self, deadline: &Deadline, name: &str) -> Result<(), StoreError> {
        let call = self.client.restore_secret().secret_id(name).send();
        deadline.bound(call).await?.map_err(classify)?;
        Ok(())
    }

    /// Compare-and-swap: moves `AWSCURRENT` to `to` only if `from` still holds it.
    ///
    /// # Errors
    /// [`StoreError::StageMoved`] when `from` no longer holds `AWSCURRENT`.
    pub async fn move_current(
        &self,
        deadline: &Deadline,
        name: &str,
        to: &str,
        from: &str,
    ) -> Result<(), StoreError> {
        let call = self
            .client
            .update_secret_version_stage()
            .secret_id(name)
            .version_stage(STAGE_CURRENT)
            .move_to_version_id(to)
            .remove_from_version_id(from)
            .send();
        deadline
            .bound(call)
            .await?
            .map_err(|err| match classify(err) {
                StoreError::InvalidParameter(_) => StoreError::StageMoved,
                other => other,
            })?;
        Ok(())
    }
}

/// Tags as the SDK takes them.
fn sdk_tags(tags: &[(&str, &str)]) -> Vec<Tag> {
    tags.iter()
        .map(|(key, value)| Tag::builder().key(*key).value(*value).build())
        .collect()
}

/// A date as RFC 3339 (UTC), as the API answers dates.
fn rfc3339(date: &aws_sdk_secretsmanager::primitives::DateTime) -> Option<String> {
    date.fmt(DateTimeFormat::DateTime).ok()
}

/// A retry classifier for the Secrets Manager client: LimitExceededException on a write is final.
/// The SDK's standard classifier treats it as throttling and retries it, but AWS's version quota
/// (about 100 versions created within 24 h) frees up in hours, so a retry only adds load.
#[derive(Debug, Default, Clone, Copy)]
pub struct QuotaIsNotRetried;

impl ClassifyRetry for QuotaIsNotRetried {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        let Some(Err(err)) = ctx.output_or_error() else {
            return RetryAction::NoActionIndicated;
        };
        let Some(err) = err.as_operation_error() else {
            return RetryAction::NoActionIndicated;
        };
        let code = err
            .downcast_ref::<PutSecretValueError>()
            .and_then(|e| e.code())
            .or_else(|| {
                err.downcast_ref::<CreateSecretError>()
                    .and_then(|e| e.code())
            });
        if code == Some("LimitExceededException") {
            RetryAction::RetryForbidden
        } else {
            RetryAction::NoActionIndicated
        }
    }

    fn name(&self) -> &'static str {
        "QuotaIsNotRetried"
    }
}

/// Sorts an SDK failure. Secrets Manager's messages never contain secret values, so the SDK's
/// description is safe to keep for the log.
fn classify<E>(err: SdkError<E, aws_sdk_secretsmanager::config::http::HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let described = || DisplayErrorContext(&err).to_string();
    match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            StoreError::Unavailable(described())
        }
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            match err.code() {
                Some("ResourceExistsException") => StoreError::AlreadyExists,
                Some("ResourceNotFoundException") => StoreError::NotFound,
                Some("InvalidRequestException") => StoreError::Refused,
                Some("InvalidParameterException") => StoreError::InvalidParameter(described()),
                Some("LimitExceededException") => StoreError::QuotaExceeded,
                Some(
                    "ThrottlingException"
                    | "Throttling"
                    | "TooManyRequestsException"
                    | "InternalServiceError"
                    | "ServiceUnavailable",
                ) => StoreError::Unavailable(described()),
                _ if status == 429 || status >= 500 => StoreError::Unavailable(described()),
                Some(code) => StoreError::Other(format!("{code}: {}", described())),
                None => StoreError::Other(described()),
            }
        }
        _ => StoreError::Other(described()),
    }
}
