//! `brook txn list|describe`: the transaction coordinator's view of transactional producers.
//!
//! With `--data-dir` the coordinator state is read from the data directory (no server may run
//! on it); with `--bootstrap HOST:PORT` the command asks a running server (or a Kafka broker)
//! with the Kafka admin APIs ListTransactions and DescribeTransactions — the ones Kafka's
//! `kafka-transactions.sh` uses. The same view is served as JSON by the HTTP API
//! (`GET /transactions`, `GET /transactions/{id}`).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{Context, bail};
use brook_broker::txn::TxnMetadata;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use clap::Subcommand;
use kafka_protocol::messages::{
    ApiKey, DescribeTransactionsRequest, DescribeTransactionsResponse, ListTransactionsRequest,
    ListTransactionsResponse, RequestHeader, ResponseHeader, TransactionalId,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use serde::Serialize;

use crate::target::{Target, TargetArgs, close};

/// Transaction inspection.
#[derive(Debug, Subcommand)]
pub enum TxnCommand {
    /// List transactional ids with their producer and state.
    List {
        /// Only these states (repeatable): Empty, Ongoing, PrepareCommit, PrepareAbort,
        /// CompleteCommit, CompleteAbort.
        #[arg(long = "state")]
        states: Vec<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Show one transactional id: producer id and epoch, state, timeout, start time and the
    /// partitions of its current transaction.
    Describe {
        /// The transactional id.
        id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        target: TargetArgs,
    },
}

/// One transactional id as operators see it (CLI and HTTP API).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct TxnView {
    /// The `transactional.id`.
    pub transactional_id: String,
    /// Producer id mapped to it.
    pub producer_id: i64,
    /// Current producer epoch.
    pub producer_epoch: i16,
    /// State name (Kafka's).
    pub state: String,
    /// `transaction.timeout.ms`.
    pub timeout_ms: i32,
    /// Start of the current transaction (ms since the epoch), -1 if none.
    pub start_time_ms: i64,
    /// Partitions of the current transaction, as `topic-partition`.
    pub partitions: Vec<String>,
}

impl From<TxnMetadata> for TxnView {
    fn from(m: TxnMetadata) -> Self {
        TxnView {
            transactional_id: m.transactional_id,
            producer_id: m.producer_id,
            producer_epoch: m.producer_epoch,
            state: m.state.name().to_string(),
            timeout_ms: m.timeout_ms,
            start_time_ms: m.start_ms,
            partitions: m.partitions.into_iter().map(|(t, p)| format!("{t}-{p}")).collect(),
        }
    }
}

/// Runs a txn command.
pub async fn run(cmd: TxnCommand) -> anyhow::Result<()> {
    match cmd {
        TxnCommand::List { states, json, target } => {
            let target = target.open()?;
            let mut views = match &target {
                Target::Local(c) => c.broker().transactions().list().into_iter().map(TxnView::from).collect(),
                Target::Remote(c) => {
                    let mut client = AdminConnection::connect(c.bootstrap())?;
                    let ids = client.list_transactions(&states)?;
                    client.describe_transactions(&ids)?
                }
            };
            close(target)?;
            views.retain(|v| states.is_empty() || states.iter().any(|s| s.eq_ignore_ascii_case(&v.state)));
            if json {
                println!("{}", serde_json::to_string_pretty(&views)?);
                return Ok(());
            }
            println!(
                "{:<32} {:>12} {:>6} {:<15} {:>10}  PARTITIONS",
                "TRANSACTIONAL ID", "PRODUCER ID", "EPOCH", "STATE", "TIMEOUT"
            );
            for v in views {
                println!(
                    "{:<32} {:>12} {:>6} {:<15} {:>10}  {}",
                    v.transactional_id,
                    v.producer_id,
                    v.producer_epoch,
                    v.state,
                    v.timeout_ms,
                    v.partitions.join(",")
                );
            }
        }
        TxnCommand::Describe { id, json, target } => {
            let target = target.open()?;
            let view = match &target {
                Target::Local(c) => {
                    c.broker().transactions().describe(&id).map(TxnView::from).map_err(anyhow::Error::from)
                }
                Target::Remote(c) => AdminConnection::connect(c.bootstrap())?
                    .describe_transactions(std::slice::from_ref(&id))
                    .and_then(|mut v| {
                        v.pop().with_context(|| format!("no answer for transactional id '{id}'"))
                    }),
            };
            close(target)?;
            let view = view?;
            if json {
                println!("{}", serde_json::to_string_pretty(&view)?);
                return Ok(());
            }
            println!("TransactionalId: {}", view.transactional_id);
            println!("ProducerId:      {}", view.producer_id);
            println!("ProducerEpoch:   {}", view.producer_epoch);
            println!("State:           {}", view.state);
            println!("TimeoutMs:       {}", view.timeout_ms);
            println!("StartTimeMs:     {}", view.start_time_ms);
            println!("Partitions:      {}", view.partitions.join(","));
        }
    }
    Ok(())
}

/// A blocking Kafka-protocol connection for the two admin requests (rdkafka has neither).
struct AdminConnection {
    stream: TcpStream,
    correlation: i32,
}

impl AdminConnection {
    fn connect(bootstrap: &str) -> anyhow::Result<AdminConnection> {
        let stream = TcpStream::connect(bootstrap).with_context(|| format!("connecting to {bootstrap}"))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(AdminConnection { stream, correlation: 0 })
    }

    fn call<Req: Encodable, Resp: Decodable>(
        &mut self,
        api: ApiKey,
        version: i16,
        req: &Req,
    ) -> anyhow::Result<Resp> {
        self.correlation += 1;
        let mut header = RequestHeader::default();
        header.request_api_key = api as i16;
        header.request_api_version = version;
        header.correlation_id = self.correlation;
        header.client_id = Some(StrBytes::from_static_str("brook-cli"));
        let mut buf = BytesMut::new();
        buf.put_i32(0);
        header.encode(&mut buf, api.request_header_version(version))?;
        req.encode(&mut buf, version)?;
        let size = (buf.len() - 4) as i32;
        buf[..4].copy_from_slice(&size.to_be_bytes());
        self.stream.write_all(&buf).with_context(|| format!("sending {api:?}"))?;
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len).with_context(|| {
            format!("the server closed the connection on {api:?} (does it support transactions?)")
        })?;
        let mut body = vec![0u8; i32::from_be_bytes(len).max(0) as usize];
        self.stream.read_exact(&mut body)?;
        let mut body = Bytes::from(body);
        let header = ResponseHeader::decode(&mut body, api.response_header_version(version))?;
        if header.correlation_id != self.correlation {
            bail!("response out of order ({} != {})", header.correlation_id, self.correlation);
        }
        let resp = Resp::decode(&mut body, version)?;
        if body.has_remaining() {
            bail!("{} unexpected bytes after the {api:?} response", body.remaining());
        }
        Ok(resp)
    }

    fn list_transactions(&mut self, states: &[String]) -> anyhow::Result<Vec<String>> {
        let mut req = ListTransactionsRequest::default();
        req.state_filters = states.iter().map(|s| StrBytes::from_string(s.clone())).collect();
        let resp: ListTransactionsResponse = self.call(ApiKey::ListTransactions, 0, &req)?;
        if resp.error_code != 0 {
            bail!("ListTransactions failed with Kafka error code {}", resp.error_code);
        }
        if !resp.unknown_state_filters.is_empty() {
            let names: Vec<_> = resp.unknown_state_filters.iter().map(|s| s.as_str().to_string()).collect();
            bail!("unknown transaction states: {}", names.join(", "));
        }
        let mut ids: Vec<_> =
            resp.transaction_states.iter().map(|t| t.transactional_id.as_str().to_string()).collect();
        ids.sort();
        Ok(ids)
    }

    fn describe_transactions(&mut self, ids: &[String]) -> anyhow::Result<Vec<TxnView>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut req = DescribeTransactionsRequest::default();
        req.transactional_ids =
            ids.iter().map(|i| TransactionalId(StrBytes::from_string(i.clone()))).collect();
        let resp: DescribeTransactionsResponse = self.call(ApiKey::DescribeTransactions, 0, &req)?;
        let mut out = Vec::new();
        for t in resp.transaction_states {
            let id = t.transactional_id.as_str().to_string();
            match t.error_code {
                0 => {}
                105 => bail!("unknown transactional id '{id}'"),
                code => bail!("describing '{id}' failed with Kafka error code {code}"),
            }
            out.push(TxnView {
                transactional_id: id,
                producer_id: t.producer_id.0,
                producer_epoch: t.producer_epoch,
                state: t.transaction_state.as_str().to_string(),
                timeout_ms: t.transaction_timeout_ms,
                start_time_ms: t.transaction_start_time_ms,
                partitions: t
                    .topics
                    .iter()
                    .flat_map(|topic| {
                        topic.partitions.iter().map(move |p| format!("{}-{p}", topic.topic.as_str()))
                    })
                    .collect(),
            });
        }
        Ok(out)
    }
}
