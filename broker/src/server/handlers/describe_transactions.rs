//! DescribeTransactions (key 65): the coordinator's state of each requested transactional id
//! (state name, producer id and epoch, timeout, start time, partitions), or
//! TRANSACTIONAL_ID_NOT_FOUND. Tools such as `kafka-transactions.sh describe` and
//! `brook txn describe` use it.

use kafka_protocol::messages::describe_transactions_response::{TopicData, TransactionState};
use kafka_protocol::messages::{
    DescribeTransactionsRequest, DescribeTransactionsResponse, ProducerId, TopicName,
};

use super::{Connection, str_bytes};

/// Describes each id.
pub(crate) fn handle(conn: &Connection, req: DescribeTransactionsRequest) -> DescribeTransactionsResponse {
    let coordinator = conn.shared.broker.transactions();
    let mut resp = DescribeTransactionsResponse::default();
    for id in req.transactional_ids {
        let mut state = TransactionState::default();
        match coordinator.describe(id.as_str()) {
            Ok(meta) => {
                state.transaction_state = str_bytes(meta.state.name());
                state.transaction_timeout_ms = meta.timeout_ms;
                state.transaction_start_time_ms = meta.start_ms;
                state.producer_id = ProducerId(meta.producer_id);
                state.producer_epoch = meta.producer_epoch;
                for (topic, partition) in meta.partitions {
                    match state.topics.last_mut() {
                        Some(t) if t.topic.as_str() == topic => t.partitions.push(partition),
                        _ => {
                            let mut t = TopicData::default();
                            t.topic = TopicName(str_bytes(topic));
                            t.partitions.push(partition);
                            state.topics.push(t);
                        }
                    }
                }
            }
            Err(e) => {
                state.error_code = e.kafka_code();
                state.transaction_state = str_bytes("");
                state.transaction_start_time_ms = -1;
                state.producer_id = ProducerId(-1);
                state.producer_epoch = -1;
            }
        }
        state.transactional_id = id;
        resp.transaction_states.push(state);
    }
    resp
}
