//! The Secrets Manager adapter: the only module that knows the SDK's operations and error types.
//!
//! It offers what the operations need — create, put, read by stage or version, the version map,
//! and the compare-and-swap move of `AWSCURRENT` — and sorts every SDK failure into a
//! [`StoreError`].

use std::collections::HashMap;
use std::fmt;

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_secretsmanager::types::Tag;

use crate::Error;

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
            StoreError::Unavailable(_) => Error::UpstreamUnavailable,
            StoreError::AlreadyExists | StoreError::InvalidParameter(_) | StoreError::Other(_) => {
                Error::Internal(err.to_string())
            }
        }
    }
}

/// Which version of a secret to read.
#[derive(Debug, Clone, Copy)]
pub enum Selector<'a> {
    /// The version holding this stage label.
    Stage(&'a str),
    /// The version with this id.
    Version(&'a str),
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

/// The labelled versions of a secret (DescribeSecret's `VersionIdsToStages`).
#[derive(Debug, Default)]
pub struct Versions(HashMap<String, Vec<String>>);

impl Versions {
    /// The id of the version holding `stage`, if any.
    pub fn holding(&self, stage: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(_, stages)| stages.iter().any(|s| s == stage))
            .map(|(id, _)| id.as_str())
    }

    /// Whether `version_id` is the only version that carries a label.
    pub fn is_only(&self, version_id: &str) -> bool {
        let mut labelled = self.0.iter().filter(|(_, stages)| !stages.is_empty());
        matches!((labelled.next(), labelled.next()), (Some((id, _)), None) if id == version_id)
    }
}

/// Secrets Manager, through a client built once per container.
#[derive(Debug, Clone)]
pub struct SecretStore {
    client: Client,
}

impl SecretStore {
    /// Wraps a configured client.
    pub fn new(client: Client) -> Self {
        SecretStore { client }
    }

    /// CreateSecret with `token` as the first version's id. Returns that version id.
    ///
    /// # Errors
    /// [`StoreError::AlreadyExists`] when the name is taken (also when this very call was made
    /// before), [`StoreError::Refused`] when the name is scheduled for deletion.
    pub async fn create(
        &self,
        name: &str,
        value: &str,
        token: &str,
        tags: &[(&str, &str)],
    ) -> Result<String, StoreError> {
        let tags = tags
            .iter()
            .map(|(key, value)| Tag::builder().key(*key).value(*value).build())
            .collect();
        let output = self
            .client
            .create_secret()
            .name(name)
            .secret_string(value)
            .client_request_token(token)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(classify)?;
        Ok(output.version_id().unwrap_or(token).to_owned())
    }

    /// PutSecretValue with `token` as the new version's id. Without `stages`, the new version
    /// becomes `AWSCURRENT`; with them, it gets only those labels. Repeating a call with the same
    /// token and value does nothing. Returns the version id.
    ///
    /// # Errors
    /// [`StoreError::AlreadyExists`] when `token` was used before with a different value;
    /// [`StoreError::NotFound`] when the secret does not exist.
    pub async fn put(
        &self,
        name: &str,
        value: &str,
        token: &str,
        stages: Option<&[&str]>,
    ) -> Result<String, StoreError> {
        let output = self
            .client
            .put_secret_value()
            .secret_id(name)
            .secret_string(value)
            .client_request_token(token)
            .set_version_stages(stages.map(|s| s.iter().map(|s| s.to_string()).collect()))
            .send()
            .await
            .map_err(classify)?;
        Ok(output.version_id().unwrap_or(token).to_owned())
    }

    /// GetSecretValue of one version. The stage is always passed explicitly (a plain read of a
    /// secret whose stage was moved is wrong in moto).
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when the secret or the version does not exist;
    /// [`StoreError::Other`] when the secret holds binary data.
    pub async fn get(
        &self,
        name: &str,
        selector: Selector<'_>,
    ) -> Result<StoredSecret, StoreError> {
        let request = self.client.get_secret_value().secret_id(name);
        let request = match selector {
            Selector::Stage(stage) => request.version_stage(stage),
            Selector::Version(id) => request.version_id(id),
        };
        let output = request.send().await.map_err(classify)?;
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

    /// DescribeSecret's map of labelled versions (no value is read).
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when the secret does not exist.
    pub async fn versions(&self, name: &str) -> Result<Versions, StoreError> {
        let output = self
            .client
            .describe_secret()
            .secret_id(name)
            .send()
            .await
            .map_err(classify)?;
        Ok(Versions(
            output.version_ids_to_stages().cloned().unwrap_or_default(),
        ))
    }

    /// Compare-and-swap: moves `AWSCURRENT` to `to` only if `from` still holds it.
    ///
    /// # Errors
    /// [`StoreError::StageMoved`] when `from` no longer holds `AWSCURRENT`.
    pub async fn move_current(&self, name: &str, to: &str, from: &str) -> Result<(), StoreError> {
        self.client
            .update_secret_version_stage()
            .secret_id(name)
            .version_stage(STAGE_CURRENT)
            .move_to_version_id(to)
            .remove_from_version_id(from)
            .send()
            .await
            .map_err(|err| match classify(err) {
                StoreError::InvalidParameter(_) => StoreError::StageMoved,
                other => other,
            })?;
        Ok(())
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
                Some(
                    "ThrottlingException"
                    | "Throttling"
                    | "TooManyRequestsException"
                    | "LimitExceededException"
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
