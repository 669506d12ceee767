//! tenant-keys: per-tenant third-party API keys in AWS Secrets Manager, behind six signed
//! webhook Lambda functions (`connect-integration`, `fetch-key`, `update-key`,
//! `disconnect-integration`, `list-integrations`, `call-provider`).
//!
//! This crate holds all of the logic; the function binaries only start it. Secrets live under
//! `tenant/<tenantId>/<provider>` as the flat JSON object of the provider's fields.
//!
//! - [`tenant`]: validated tenant ids and the secret names built from them.
//! - [`provider`]: the provider registry.
//! - [`template`]: the catalog's grammar (value templates, field patterns), shared with build.rs.
//! - [`credentials`]: credential values, their validation and views (full, public, masked).
//! - [`auth`]: Standard Webhooks verification.
//! - [`request`]: parsing of the operations' JSON bodies.
//! - [`call_request`]: call-provider's request, and what a caller may send through it.
//! - [`store`]: the Secrets Manager adapter.
//! - [`cache`]: fetch-key's per-container read cache.
//! - [`deadline`]: the time a request has left, from the Lambda context.
//! - [`ops`]: connect, fetch, update, disconnect and list.
//! - [`keyring`]: the signing keys, read again as the signing secret changes.
//! - [`operation`]: the list of operations, one function each.
//! - [`app`]: a function's state for the life of its container.
//! - [`http`]: the HTTP edge: checks, dispatch, log and metrics lines, errors as problems.
//! - [`answers`]: the JSON answers, one type each.
//! - [`metrics`]: one CloudWatch Embedded Metric Format line per request.
//! - [`config`]: start-up from the environment, logging.
//! - [`outbound`]: the HTTP client to providers, and how a key is put into a request.
//! - [`verify`]: checking keys with the provider before they are stored.
//! - [`Error`]: the one error type, each variant a documented problem code.
#![warn(missing_docs)]

pub mod answers;
pub mod app;
pub mod auth;
pub mod cache;
pub mod call_request;
// The catalog's rules run in build.rs, which includes the module; here only for its unit tests.
#[cfg(test)]
mod catalog;
pub mod config;
pub mod credentials;
pub mod deadline;
pub mod error;
pub mod http;
pub mod keyring;
pub mod metrics;
pub mod operation;
pub mod ops;
pub mod outbound;
pub mod provider;
pub mod request;
pub mod store;
pub mod template;
pub mod tenant;
pub mod verify;

pub use app::App;
pub use config::{init_tracing, run};
pub use error::Error;
pub use operation::Operation;
