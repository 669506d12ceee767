//! The `connect-integration` Lambda function: see the tenant-keys README for its contract.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    tenant_keys::run(tenant_keys::Operation::ConnectIntegration).await
}
