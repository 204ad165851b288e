//! The SQL layer's error type, with variants named by who is at fault.
//!
//! * The user wrote something that does not parse ([`Error::Parse`], with line and column), or
//!   that parses but cannot run ([`Error::Plan`], [`Error::Unsupported`]), or names something
//!   that does not exist or already exists ([`Error::Catalog`]).
//! * The engine failed while running a statement ([`Error::Execution`]), or a lower layer did
//!   ([`Error::Cluster`], [`Error::Broker`], [`Error::Streams`], [`Error::Io`]).
//! * A bug ([`Error::Internal`]).
//!
//! Messages are written for the person who typed the statement: they say what was wrong and,
//! where there is one, what to do instead.

/// Errors of the SQL layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A statement does not parse.
    #[error("line {line}:{column}: {message}")]
    Parse {
        /// 1-based line in the submitted text.
        line: u64,
        /// 1-based column in the submitted text.
        column: u64,
        /// What was expected and what was found.
        message: String,
    },
    /// A statement parses but is not a valid query or command (unknown column, wrong types,
    /// missing clause).
    #[error("{0}")]
    Plan(String),
    /// A stream, table, type, query or variable is unknown, or already exists.
    #[error("{0}")]
    Catalog(String),
    /// Valid ksqlDB syntax that Brook does not support.
    #[error("not supported: {0}")]
    Unsupported(String),
    /// Running a statement failed.
    #[error("{0}")]
    Execution(String),
    /// The broker rejected an operation.
    #[error("broker: {0}")]
    Broker(#[from] brook_broker::Error),
    /// The cluster the engine runs on (embedded or remote) refused or failed an operation; the
    /// message names the cluster.
    #[error("{0}")]
    Cluster(#[from] brook_client::Error),
    /// The streams runtime failed.
    #[error("streams: {0}")]
    Streams(#[from] brook_streams::Error),
    /// I/O with context (script files, state directories).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A bug in Brook: an invariant did not hold.
    #[error("internal error (please report): {0}")]
    Internal(String),
}

impl Error {
    /// A planning error from anything displayable.
    pub fn plan(msg: impl Into<String>) -> Self {
        Error::Plan(msg.into())
    }

    /// A ksqlDB-style numeric error code for the REST API (`error_code`).
    pub fn code(&self) -> u32 {
        match self {
            Error::Parse { .. } | Error::Plan(_) | Error::Unsupported(_) => 40001,
            Error::Catalog(_) => 40001,
            Error::Execution(_)
            | Error::Broker(_)
            | Error::Cluster(_)
            | Error::Streams(_)
            | Error::Io { .. } => 50000,
            Error::Internal(_) => 50000,
        }
    }

    /// Whether the statement (not the server) was at fault.
    pub fn is_user_error(&self) -> bool {
        matches!(self, Error::Parse { .. } | Error::Plan(_) | Error::Unsupported(_) | Error::Catalog(_))
    }
}

impl From<datafusion::error::DataFusionError> for Error {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        use datafusion::error::DataFusionError as D;
        match e {
            D::Plan(m) => Error::Plan(clean_df_message(&m)),
            D::SchemaError(e, _) => Error::Plan(clean_df_message(&e.to_string())),
            D::NotImplemented(m) => Error::Unsupported(clean_df_message(&m)),
            D::Context(ctx, inner) => match Error::from(*inner) {
                Error::Plan(m) => Error::Plan(format!("{ctx}: {m}")),
                other => other,
            },
            D::Diagnostic(_, inner) => Error::from(*inner),
            other => Error::Execution(clean_df_message(&other.to_string())),
        }
    }
}

impl From<datafusion::arrow::error::ArrowError> for Error {
    fn from(e: datafusion::arrow::error::ArrowError) -> Self {
        Error::Execution(e.to_string())
    }
}

/// Strips DataFusion's internal hints (backtraces, "Valid fields are" lists with qualifiers in
/// quotes) down to the part a user can act on.
fn clean_df_message(m: &str) -> String {
    let m = m.trim();
    let m = m.split("\n\nBacktrace").next().unwrap_or(m);
    m.replace("Schema error: ", "").replace("Error during planning: ", "")
}

/// Result type of the SQL crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
