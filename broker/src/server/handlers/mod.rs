//! Request dispatch: one file per Kafka API, plus the table of versions the server implements.
//!
//! `handle` reads the API key and version from a frame, decodes the request header and body
//! with the `kafka-protocol` crate, calls the API's handler and encodes its response into a
//! complete frame (size prefix included). Handlers never see bytes; they map requests onto the
//! [`Broker`](crate::Broker) and [`GroupCoordinator`](crate::group::GroupCoordinator) and turn
//! [`Error::kafka_code`](crate::Error::kafka_code) into per-partition error codes.

pub mod add_offsets_to_txn;
pub mod add_partitions_to_txn;
pub mod alter_configs;
pub mod api_versions;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_groups;
pub mod delete_records;
pub mod delete_topics;
pub mod describe_configs;
pub mod describe_groups;
pub mod describe_transactions;
pub mod end_txn;
pub mod fetch;
pub mod find_coordinator;
pub mod heartbeat;
pub mod incremental_alter_configs;
pub mod init_producer_id;
pub mod join_group;
pub mod leave_group;
pub mod list_groups;
pub mod list_offsets;
pub mod list_transactions;
pub mod metadata;
pub mod offset_commit;
pub mod offset_fetch;
pub mod produce;
pub mod sync_group;
pub mod txn_offset_commit;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use super::Shared;
use crate::error::{Error, Result};

/// Every API the server implements, with the version range it advertises in ApiVersions.
///
/// Minimums stay low (librdkafka 2.0 enables features only when the broker's range overlaps
/// old versions; aiokafka and kafkajs use old versions); maximums stop before versions that
/// need topic ids, batched coordinator lookups or KIP-848.
///
/// Transactions are protocol v1 (KIP-98 with KIP-360/588 epoch bumps): AddPartitionsToTxn stops
/// at v3 (v4+ is broker-to-coordinator), EndTxn at v4 and TxnOffsetCommit at v4 (v5 of both
/// belongs to KIP-890's transactions v2, which needs the `transaction.version` feature Brook
/// does not finalize, so Java 4.x clients stay on v1).
pub const SUPPORTED_APIS: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 9),
    (ApiKey::Fetch, 4, 12),
    (ApiKey::ListOffsets, 1, 7),
    (ApiKey::Metadata, 0, 9),
    (ApiKey::OffsetCommit, 2, 8),
    (ApiKey::OffsetFetch, 1, 7),
    (ApiKey::FindCoordinator, 0, 3),
    (ApiKey::JoinGroup, 0, 7),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::DescribeGroups, 0, 5),
    (ApiKey::ListGroups, 0, 4),
    (ApiKey::DeleteGroups, 0, 2),
    (ApiKey::ApiVersions, 0, 4),
    (ApiKey::CreateTopics, 2, 5),
    (ApiKey::DeleteTopics, 1, 5),
    (ApiKey::DeleteRecords, 0, 2),
    (ApiKey::InitProducerId, 0, 5),
    (ApiKey::AddPartitionsToTxn, 0, 3),
    (ApiKey::AddOffsetsToTxn, 0, 4),
    (ApiKey::EndTxn, 0, 4),
    (ApiKey::TxnOffsetCommit, 0, 4),
    (ApiKey::DescribeTransactions, 0, 0),
    (ApiKey::ListTransactions, 0, 1),
    (ApiKey::DescribeConfigs, 1, 4),
    (ApiKey::AlterConfigs, 0, 2),
    (ApiKey::CreatePartitions, 0, 3),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
];

/// The advertised version range of an API, if the server implements it.
pub fn supported_range(api: ApiKey) -> Option<(i16, i16)> {
    SUPPORTED_APIS.iter().find(|(k, _, _)| *k == api).map(|&(_, lo, hi)| (lo, hi))
}

/// Per-connection facts handlers need.
pub(crate) struct Connection {
    pub(crate) shared: Arc<Shared>,
    /// The client's IP address.
    pub(crate) client_host: String,
}

impl Connection {
    /// Refuses a change to an internal topic (see [`crate::is_internal_topic`]) unless the
    /// request comes from one of Brook's own writers: `__*` topics are written only by the
    /// broker itself (OffsetCommit, transactions), `_brook_*` topics only by clients whose
    /// `client.id` is in `ServerConfig::internal_topic_writers` — the same mechanism Kafka uses
    /// for its internal topics (only its `__admin_client` may produce to them).
    pub(crate) fn check_may_write(&self, h: &Header, topic: &str) -> Result<()> {
        let allowed = !crate::is_internal_topic(topic)
            || (!topic.starts_with("__") && self.shared.config.internal_topic_writers.contains(&h.client_id));
        if allowed { Ok(()) } else { Err(Error::InternalTopicWrite(topic.to_string())) }
    }
}

/// What goes back to the client for one request.
pub(crate) enum Reply {
    /// Nothing (`acks=0` produce).
    None,
    /// A complete response frame.
    Now(BytesMut),
    /// A response frame that is ready later (durable produce, long-poll fetch).
    Later(Pin<Box<dyn Future<Output = Result<BytesMut>> + Send>>),
}

/// The request header fields handlers use.
pub(crate) struct Header {
    pub(crate) api: ApiKey,
    pub(crate) version: i16,
    pub(crate) correlation_id: i32,
    pub(crate) client_id: String,
}

impl Header {
    /// Encodes `body` as this request's response frame.
    pub(crate) fn respond<T: Encodable>(&self, body: &T) -> Result<BytesMut> {
        encode_frame(self.correlation_id, self.api.response_header_version(self.version), self.version, body)
    }
}

/// Encodes a complete response frame: size, response header, body.
pub fn encode_frame<T: Encodable>(
    correlation_id: i32,
    header_version: i16,
    version: i16,
    body: &T,
) -> Result<BytesMut> {
    let mut out = BytesMut::with_capacity(64);
    out.put_i32(0);
    let mut header = ResponseHeader::default();
    header.correlation_id = correlation_id;
    header
        .encode(&mut out, header_version)
        .map_err(|e| Error::InvalidRequest(format!("cannot encode response header: {e}")))?;
    body.encode(&mut out, version)
        .map_err(|e| Error::InvalidRequest(format!("cannot encode v{version} response: {e}")))?;
    let size = i32::try_from(out.len() - 4)
        .map_err(|_| Error::InvalidRequest("response larger than 2 GiB".to_string()))?;
    out[..4].copy_from_slice(&size.to_be_bytes());
    Ok(out)
}

fn decode<T: Decodable>(body: &mut Bytes, header: &Header) -> Result<T> {
    // Reject hostile array counts before the crate sizes allocations from them.
    super::decode_guard::check::<T>(body, header.version)?;
    T::decode(body, header.version).map_err(|e| {
        Error::InvalidRequest(format!("cannot decode {:?} v{} request: {e}", header.api, header.version))
    })
}

/// The error code for a transaction API error: PRODUCER_FENCED exists only from certain
/// versions on (InitProducerId v4, AddPartitions/AddOffsets/EndTxn v2); older clients get
/// INVALID_PRODUCER_EPOCH, which they also treat as fenced.
pub(crate) fn txn_error_code(e: &Error, producer_fenced_allowed: bool) -> i16 {
    match e {
        Error::TransactionalProducerFenced { .. } if !producer_fenced_allowed => 47,
        e => e.kafka_code(),
    }
}

/// A `StrBytes` from a `String`.
pub(crate) fn str_bytes(s: impl Into<String>) -> StrBytes {
    StrBytes::from_string(s.into())
}

/// Processes one request frame (without its size prefix).
///
/// Returns an error, which closes the connection, for frames that cannot be decoded and for
/// API keys or versions the server does not implement (except ApiVersions, which answers an
/// unknown version with error 35 and the supported list, as KIP-511 requires).
pub(crate) async fn handle(conn: &Connection, mut frame: Bytes) -> Result<Reply> {
    if frame.len() < 8 {
        return Err(Error::InvalidRequest(format!(
            "frame of {} bytes is too short for a header",
            frame.len()
        )));
    }
    let key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    let api = ApiKey::try_from(key).map_err(|_| Error::InvalidRequest(format!("unknown API key {key}")))?;
    let Some((lo, hi)) = supported_range(api) else {
        return Err(Error::InvalidRequest(format!("API {api:?} (key {key}) is not supported")));
    };
    if api == ApiKey::ApiVersions && !(lo..=hi).contains(&version) {
        return Ok(Reply::Now(api_versions::unsupported_version(correlation_id)?));
    }
    if !(lo..=hi).contains(&version) {
        return Err(Error::UnsupportedVersion { api_key: key, version });
    }
    let raw = RequestHeader::decode(&mut frame, api.request_header_version(version))
        .map_err(|e| Error::InvalidRequest(format!("cannot decode request header: {e}")))?;
    let h = Header {
        api,
        version,
        correlation_id,
        client_id: raw.client_id.map(|c| c.as_str().to_string()).unwrap_or_default(),
    };
    let body = &mut frame;
    let reply = match api {
        ApiKey::ApiVersions => {
            let _req: kafka_protocol::messages::ApiVersionsRequest = decode(body, &h)?;
            Reply::Now(h.respond(&api_versions::handle())?)
        }
        ApiKey::Metadata => Reply::Now(h.respond(&metadata::handle(conn, decode(body, &h)?, h.version))?),
        ApiKey::Produce => return produce::handle(conn, &h, decode(body, &h)?),
        ApiKey::Fetch => return fetch::handle(conn, &h, decode(body, &h)?),
        ApiKey::ListOffsets => Reply::Now(h.respond(&list_offsets::handle(conn, decode(body, &h)?))?),
        ApiKey::FindCoordinator => {
            Reply::Now(h.respond(&find_coordinator::handle(conn, decode(body, &h)?, h.version))?)
        }
        ApiKey::InitProducerId => {
            Reply::Now(h.respond(&init_producer_id::handle(conn, decode(body, &h)?, h.version).await)?)
        }
        ApiKey::AddPartitionsToTxn => {
            Reply::Now(h.respond(&add_partitions_to_txn::handle(conn, decode(body, &h)?, h.version).await)?)
        }
        ApiKey::AddOffsetsToTxn => {
            Reply::Now(h.respond(&add_offsets_to_txn::handle(conn, decode(body, &h)?, h.version).await)?)
        }
        ApiKey::EndTxn => Reply::Now(h.respond(&end_txn::handle(conn, decode(body, &h)?, h.version).await)?),
        ApiKey::TxnOffsetCommit => {
            Reply::Now(h.respond(&txn_offset_commit::handle(conn, decode(body, &h)?).await)?)
        }
        ApiKey::DescribeTransactions => {
            Reply::Now(h.respond(&describe_transactions::handle(conn, decode(body, &h)?))?)
        }
        ApiKey::ListTransactions => {
            Reply::Now(h.respond(&list_transactions::handle(conn, decode(body, &h)?))?)
        }
        ApiKey::JoinGroup => Reply::Now(h.respond(&join_group::handle(conn, &h, decode(body, &h)?).await)?),
        ApiKey::SyncGroup => Reply::Now(h.respond(&sync_group::handle(conn, decode(body, &h)?).await)?),
        ApiKey::Heartbeat => Reply::Now(h.respond(&heartbeat::handle(conn, decode(body, &h)?))?),
        ApiKey::LeaveGroup => {
            Reply::Now(h.respond(&leave_group::handle(conn, decode(body, &h)?, h.version))?)
        }
        ApiKey::OffsetCommit => Reply::Now(h.respond(&offset_commit::handle(conn, decode(body, &h)?).await)?),
        ApiKey::OffsetFetch => {
            Reply::Now(h.respond(&offset_fetch::handle(conn, decode(body, &h)?, h.version))?)
        }
        ApiKey::ListGroups => Reply::Now(h.respond(&list_groups::handle(conn, decode(body, &h)?))?),
        ApiKey::DescribeGroups => {
            Reply::Now(h.respond(&describe_groups::handle(conn, decode(body, &h)?, h.version))?)
        }
        ApiKey::DeleteGroups => Reply::Now(h.respond(&delete_groups::handle(conn, decode(body, &h)?).await)?),
        ApiKey::CreateTopics => Reply::Now(h.respond(&create_topics::handle(conn, &h, decode(body, &h)?))?),
        ApiKey::DeleteTopics => Reply::Now(h.respond(&delete_topics::handle(conn, &h, decode(body, &h)?))?),
        ApiKey::CreatePartitions => {
            Reply::Now(h.respond(&create_partitions::handle(conn, &h, decode(body, &h)?))?)
        }
        ApiKey::DescribeConfigs => {
            Reply::Now(h.respond(&describe_configs::handle(conn, decode(body, &h)?, h.version))?)
        }
        ApiKey::AlterConfigs => Reply::Now(h.respond(&alter_configs::handle(conn, &h, decode(body, &h)?))?),
        ApiKey::IncrementalAlterConfigs => {
            Reply::Now(h.respond(&incremental_alter_configs::handle(conn, &h, decode(body, &h)?))?)
        }
        ApiKey::DeleteRecords => {
            Reply::Now(h.respond(&delete_records::handle(conn, &h, decode(body, &h)?))?)
        }
        other => return Err(Error::InvalidRequest(format!("API {other:?} is not supported"))),
    };
    Ok(reply)
}
