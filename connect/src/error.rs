//! The crate's error type. Variants are named by who is at fault: the connector's
//! configuration, the file system, the broker, the cluster the topics live in, or stored state.
//!
//! Bad *input data* (a malformed line) is not an [`Error`]: it is a [`DecodeError`] that the
//! source sends to the dead-letter topic while the connector keeps going.

use std::path::PathBuf;

/// Errors of connectors and of the connector manager.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The connector's configuration is invalid; the message names the option and what to do.
    #[error("invalid connector configuration: {0}")]
    Config(String),
    /// No connector with this name exists.
    #[error("unknown connector '{0}' (SHOW CONNECTORS lists the existing ones)")]
    UnknownConnector(String),
    /// A connector with this name already exists.
    #[error("connector '{0}' already exists; drop it first or choose another name")]
    ConnectorExists(String),
    /// A file-system operation failed.
    #[error("{context} ({path}): {source}")]
    Io {
        /// What the connector was doing.
        context: String,
        /// The file or directory involved.
        path: PathBuf,
        /// The operating-system error.
        source: std::io::Error,
    },
    /// The embedded broker refused an operation.
    #[error("broker: {0}")]
    Broker(#[from] brook_broker::Error),
    /// The cluster the topics live in (embedded or remote) failed or refused an operation.
    #[error("{0}")]
    Cluster(#[from] brook_client::Error),
    /// Stored connector state (a checkpoint or a registry entry) could not be decoded.
    #[error("stored state of connector '{connector}' is unreadable: {reason}")]
    CorruptState {
        /// The connector whose state is damaged.
        connector: String,
        /// What is wrong.
        reason: String,
    },
    /// Writing an output file (JSON lines or Parquet) failed.
    #[error("sink '{connector}' cannot write {path}: {message}")]
    Sink {
        /// The sink connector.
        connector: String,
        /// The output file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// A line is not a valid record and `'errors.tolerance'='none'` stops the connector at
    /// the first such line (nothing after it is read until it is fixed).
    #[error(
        "line {line} of {file} is not a valid record ({reason}); with 'errors.tolerance'='none' the \
         connector stops at the first bad record: fix the line, or set 'errors.tolerance'='all' to send bad \
         records to the dead-letter topic and go on"
    )]
    Rejected {
        /// The input file.
        file: PathBuf,
        /// The line number (from 1).
        line: u64,
        /// Where the line starts in the file.
        offset: u64,
        /// Why the line is not a record.
        reason: String,
    },
    /// The connector was asked to stop while waiting.
    #[error("the connector is stopping")]
    Stopped,
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A closure that wraps an I/O error with what was being done and to which path.
    pub(crate) fn io(
        context: impl Into<String>,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let (context, path) = (context.into(), path.into());
        move |source| Error::Io { context, path, source }
    }
}

/// Why one input line could not be turned into records. The line goes to the dead-letter
/// topic with this message; it is never a reason to stop the connector.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(pub String);

impl DecodeError {
    /// A decode error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        DecodeError(message.into())
    }
}
