//! The list of operations: one function (package, binary, route) each.

/// Which function is serving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// `connect-integration`.
    ConnectIntegration,
    /// `fetch-key`.
    FetchKey,
    /// `update-key`.
    UpdateKey,
    /// `disconnect-integration`.
    DisconnectIntegration,
    /// `list-integrations`.
    ListIntegrations,
    /// `call-provider`.
    CallProvider,
}

impl Operation {
    /// Every operation, one function each, in the order the docs list them. A new operation is
    /// added here; `shared/tests/operations_everywhere.rs` then names every other place that
    /// must know it.
    pub const ALL: [Operation; 6] = [
        Operation::ConnectIntegration,
        Operation::FetchKey,
        Operation::UpdateKey,
        Operation::DisconnectIntegration,
        Operation::ListIntegrations,
        Operation::CallProvider,
    ];

    /// The function's name: its package, binary and route, and its name in logs.
    pub fn name(self) -> &'static str {
        match self {
            Operation::ConnectIntegration => "connect-integration",
            Operation::FetchKey => "fetch-key",
            Operation::UpdateKey => "update-key",
            Operation::DisconnectIntegration => "disconnect-integration",
            Operation::ListIntegrations => "list-integrations",
            Operation::CallProvider => "call-provider",
        }
    }

    /// The largest request body the function takes: 64 KiB, but call-provider's carries the
    /// provider's request body too (5 MiB, under Lambda's 6 MB payload).
    pub fn max_body_bytes(self) -> usize {
        match self {
            Operation::CallProvider => 5 * 1024 * 1024,
            _ => 64 * 1024,
        }
    }
}
