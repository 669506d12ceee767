//! The `list-integrations` Lambda function: see the tenant-keys README for its contract.

use std::convert::Infallible;

use lambda_http::{run, service_fn};
use tenant_keys::{App, Operation};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    tenant_keys::init_tracing();
    let app = App::from_env().await.inspect_err(|err| {
        tracing::error!(error = %err, "list-integrations cannot start; it will not serve requests");
    })?;
    let app = &app;
    run(service_fn(move |request| async move {
        Ok::<_, Infallible>(app.handle(Operation::ListIntegrations, request).await)
    }))
    .await
}
