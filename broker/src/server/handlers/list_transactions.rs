//! ListTransactions (key 66, v0–1): every transactional id the coordinator knows, filtered by
//! state names, producer ids and (v1) by running longer than `duration_filter` ms. Unknown
//! state names come back in `unknown_state_filters`, as in Kafka.

use kafka_protocol::messages::list_transactions_response::TransactionState;
use kafka_protocol::messages::{
    ListTransactionsRequest, ListTransactionsResponse, ProducerId, TransactionalId,
};

use super::{Connection, str_bytes};
use crate::txn::TxnState;
use crate::util::now_ms;

/// Lists the matching transactions.
pub(crate) fn handle(conn: &Connection, req: ListTransactionsRequest) -> ListTransactionsResponse {
    let mut resp = ListTransactionsResponse::default();
    let mut states = Vec::new();
    for name in &req.state_filters {
        match TxnState::from_name(name.as_str()) {
            Some(s) => states.push(s),
            None => resp.unknown_state_filters.push(name.clone()),
        }
    }
    if !req.state_filters.is_empty() && states.is_empty() {
        return resp;
    }
    let now = now_ms();
    for meta in conn.shared.broker.transactions().list() {
        let state_ok = states.is_empty() || states.contains(&meta.state);
        let pid_ok = req.producer_id_filters.is_empty()
            || req.producer_id_filters.iter().any(|p| p.0 == meta.producer_id);
        let duration_ok = req.duration_filter < 0
            || (meta.state == TxnState::Ongoing
                && meta.start_ms >= 0
                && now - meta.start_ms >= req.duration_filter);
        if state_ok && pid_ok && duration_ok {
            let mut t = TransactionState::default();
            t.transactional_id = TransactionalId(str_bytes(meta.transactional_id));
            t.producer_id = ProducerId(meta.producer_id);
            t.transaction_state = str_bytes(meta.state.name());
            resp.transaction_states.push(t);
        }
    }
    resp
}
