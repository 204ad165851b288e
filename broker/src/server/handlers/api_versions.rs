//! ApiVersions (key 18): the versions of every API this server implements.
//!
//! Clients send it first on every connection. A version the server does not know is answered
//! in the v0 format (header v0, body v0) with UNSUPPORTED_VERSION (35) and the full list, so the
//! client can retry with a version both sides support (KIP-511). The response header is always
//! v0, even for flexible versions.

use bytes::BytesMut;
use kafka_protocol::messages::ApiVersionsResponse;
use kafka_protocol::messages::api_versions_response::ApiVersion;

use super::{SUPPORTED_APIS, encode_frame};
use crate::error::Result;

/// The ApiVersions response listing [`SUPPORTED_APIS`].
pub fn handle() -> ApiVersionsResponse {
    let mut resp = ApiVersionsResponse::default();
    for &(key, min, max) in SUPPORTED_APIS {
        let mut v = ApiVersion::default();
        v.api_key = key as i16;
        v.min_version = min;
        v.max_version = max;
        resp.api_keys.push(v);
    }
    resp
}

/// The v0 error answer for an ApiVersions version this server does not implement.
pub fn unsupported_version(correlation_id: i32) -> Result<BytesMut> {
    let mut resp = handle();
    resp.error_code = 35;
    encode_frame(correlation_id, 0, 0, &resp)
}
