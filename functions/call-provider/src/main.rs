//! The `call-provider` Lambda function: see the tenant-keys API reference (docs/api.md).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    tenant_keys::run(tenant_keys::Operation::CallProvider).await
}
