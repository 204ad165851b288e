//! The classic consumer-group coordinator: Kafka's group membership state machine, one per group.
//!
//! ```text
//!            first JoinGroup                 all members joined (or rebalance timeout)
//!   Empty ───────────────────► Preparing ─────────────────────────────► Completing
//!     ▲                        Rebalance ◄──────────┐                   Rebalance
//!     │ last member left /         ▲                │ member joins,        │ leader's SyncGroup
//!     │ timed out                  │ member joins,  │ leaves or dies       ▼
//!     └────────────────────────────┴─ leaves, dies ─┴──────────────────  Stable
//! ```
//!
//! * **JoinGroup** registers the member and parks its request until the rebalance completes:
//!   when every known member has (re)joined, or the rebalance timeout passes (members that did
//!   not rejoin are dropped). Completion bumps the generation, picks a protocol every member
//!   supports (by vote, as Kafka does), and answers every parked join; only the leader receives
//!   the members' metadata.
//! * **SyncGroup** from followers parks until the leader's SyncGroup hands out the assignments;
//!   then the group is `Stable`. Assignments are opaque bytes: the broker never interprets the
//!   assignor's protocol (cooperative-sticky and custom assignors are client-side).
//! * **Heartbeat** keeps a member alive and tells it (REBALANCE_IN_PROGRESS) to rejoin while a
//!   rebalance is pending. A member silent for its session timeout is removed, which starts a
//!   rebalance; so does **LeaveGroup**. Members parked in JoinGroup or SyncGroup count as alive.
//! * **OffsetCommit** is checked against the member and generation (commits with generation -1
//!   and no member id are "simple" commits, accepted while the group has no members) and stored
//!   durably through the broker's [`GroupOffsetStore`](super::GroupOffsetStore).
//! * **DeleteGroups** ([`Broker::delete_group`]) is refused while the group has members
//!   (NON_EMPTY_GROUP); otherwise the group's state is forgotten here and its committed offsets
//!   are removed from the store.
//!
//! All groups share one mutex; no I/O or waiting happens while it is held. Timers are driven by
//! [`GroupCoordinator::tick`], which the protocol server calls every 100 ms.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::oneshot;

use crate::broker::Broker;
use crate::error::{Error, Result};
use crate::group::OffsetAndMetadata;

/// Largest offset-commit metadata string stored (Kafka's `offset.metadata.max.bytes`).
pub const MAX_OFFSET_METADATA: usize = 4096;

/// Limits the coordinator enforces.
#[derive(Debug, Clone)]
pub struct CoordinatorConfig {
    /// Smallest session timeout a member may ask for (Kafka: `group.min.session.timeout.ms`).
    pub min_session_timeout_ms: i32,
    /// Largest session timeout a member may ask for (Kafka: `group.max.session.timeout.ms`).
    pub max_session_timeout_ms: i32,
    /// How long the first rebalance of an empty group waits for more members
    /// (Kafka: `group.initial.rebalance.delay.ms`).
    pub initial_rebalance_delay: Duration,
}

impl Default for CoordinatorConfig {
    fn default() -> Self {
        CoordinatorConfig {
            min_session_timeout_ms: 1_000,
            max_session_timeout_ms: 1_800_000,
            initial_rebalance_delay: Duration::ZERO,
        }
    }
}

/// The state of a group, with Kafka's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    /// No members (offsets may still be committed).
    Empty,
    /// Waiting for members to (re)join.
    PreparingRebalance,
    /// Waiting for the leader's assignments.
    CompletingRebalance,
    /// Every member has its assignment.
    Stable,
    /// The group does not exist.
    Dead,
}

impl GroupState {
    /// The name Kafka's admin APIs use.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// A JoinGroup request, decoded.
#[derive(Debug, Clone)]
pub struct JoinRequest {
    /// Group id.
    pub group_id: String,
    /// Member id; empty for a member joining for the first time.
    pub member_id: String,
    /// Static membership instance id (`group.instance.id`).
    pub group_instance_id: Option<String>,
    /// Client id from the request header.
    pub client_id: String,
    /// Client address.
    pub client_host: String,
    /// Session timeout in ms.
    pub session_timeout_ms: i32,
    /// Rebalance timeout in ms (≤ 0: use the session timeout).
    pub rebalance_timeout_ms: i32,
    /// Protocol type, e.g. `consumer`.
    pub protocol_type: String,
    /// Supported protocols (assignors) in order of preference, with their metadata.
    pub protocols: Vec<(String, Bytes)>,
}

/// A member as the leader sees it in its JoinGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinedMember {
    /// Member id.
    pub member_id: String,
    /// Static instance id.
    pub group_instance_id: Option<String>,
    /// The member's metadata for the chosen protocol.
    pub metadata: Bytes,
}

/// The result of a completed JoinGroup.
#[derive(Debug, Clone)]
pub struct JoinResponse {
    /// The new generation.
    pub generation_id: i32,
    /// Protocol type of the group.
    pub protocol_type: Option<String>,
    /// Chosen protocol.
    pub protocol_name: Option<String>,
    /// The leader's member id.
    pub leader: String,
    /// This member's id.
    pub member_id: String,
    /// All members with their metadata (leader only; empty for followers).
    pub members: Vec<JoinedMember>,
}

/// The result of a completed SyncGroup.
#[derive(Debug, Clone)]
pub struct SyncResponse {
    /// Protocol type of the group.
    pub protocol_type: Option<String>,
    /// Chosen protocol.
    pub protocol_name: Option<String>,
    /// This member's assignment (empty if the leader assigned it nothing).
    pub assignment: Bytes,
}

/// One row of ListGroups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    /// Group id.
    pub group_id: String,
    /// Protocol type (empty for groups that only commit offsets).
    pub protocol_type: String,
    /// Current state.
    pub state: GroupState,
}

/// A member as DescribeGroups reports it.
#[derive(Debug, Clone)]
pub struct MemberDescription {
    /// Member id.
    pub member_id: String,
    /// Static instance id.
    pub group_instance_id: Option<String>,
    /// Client id.
    pub client_id: String,
    /// Client address.
    pub client_host: String,
    /// Metadata for the chosen protocol.
    pub metadata: Bytes,
    /// Current assignment.
    pub assignment: Bytes,
}

/// A group as DescribeGroups reports it.
#[derive(Debug, Clone)]
pub struct GroupDescription {
    /// Group id.
    pub group_id: String,
    /// Current state.
    pub state: GroupState,
    /// Protocol type.
    pub protocol_type: String,
    /// Chosen protocol (empty unless Stable or CompletingRebalance).
    pub protocol: String,
    /// Members.
    pub members: Vec<MemberDescription>,
}

struct Member {
    id: String,
    instance_id: Option<String>,
    client_id: String,
    client_host: String,
    session_timeout: Duration,
    rebalance_timeout: Duration,
    protocols: Vec<(String, Bytes)>,
    assignment: Bytes,
    join_waiter: Option<oneshot::Sender<Result<JoinResponse>>>,
    sync_waiter: Option<oneshot::Sender<Result<SyncResponse>>>,
    last_heartbeat: Instant,
}

impl Member {
    fn metadata_for(&self, protocol: &str) -> Bytes {
        self.protocols.iter().find(|(n, _)| n == protocol).map(|(_, m)| m.clone()).unwrap_or_default()
    }
}

struct Group {
    id: String,
    state: GroupState,
    generation: i32,
    protocol_type: Option<String>,
    protocol: Option<String>,
    leader: Option<String>,
    /// Members in join order (the first becomes leader when there is none).
    members: Vec<Member>,
    rebalance_deadline: Instant,
    /// The first rebalance of an empty group waits the full initial delay.
    initial_delay: bool,
}

enum JoinOutcome {
    Wait(oneshot::Receiver<Result<JoinResponse>>),
}

/// Coordinates every consumer group of the broker.
pub struct GroupCoordinator {
    broker: Broker,
    config: CoordinatorConfig,
    groups: Mutex<HashMap<String, Group>>,
    next_member: AtomicU64,
}

impl std::fmt::Debug for GroupCoordinator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GroupCoordinator({} groups)", self.groups.lock().len())
    }
}

impl GroupCoordinator {
    /// A coordinator whose committed offsets live in `broker`'s group offset store.
    pub fn new(broker: Broker, config: CoordinatorConfig) -> GroupCoordinator {
        GroupCoordinator {
            broker,
            config,
            groups: Mutex::new(HashMap::new()),
            next_member: AtomicU64::new(0),
        }
    }

    /// Handles JoinGroup: returns once the rebalance this join takes part in has completed.
    pub async fn join(&self, req: JoinRequest) -> Result<JoinResponse> {
        let JoinOutcome::Wait(rx) = self.join_locked(req)?;
        rx.await.map_err(|_| Error::ShuttingDown)?
    }

    fn join_locked(&self, req: JoinRequest) -> Result<JoinOutcome> {
        if req.group_id.is_empty() {
            return Err(Error::InvalidGroupId(req.group_id));
        }
        let (min, max) = (self.config.min_session_timeout_ms, self.config.max_session_timeout_ms);
        if req.session_timeout_ms < min || req.session_timeout_ms > max {
            return Err(Error::InvalidSessionTimeout { got: req.session_timeout_ms, min, max });
        }
        if req.protocol_type.is_empty() || req.protocols.is_empty() {
            return Err(Error::InconsistentGroupProtocol(
                "a joining member must name a protocol type and at least one protocol".to_string(),
            ));
        }
        let now = Instant::now();
        let mut groups = self.groups.lock();
        let group = groups.entry(req.group_id.clone()).or_insert_with(|| Group {
            id: req.group_id.clone(),
            state: GroupState::Empty,
            generation: 0,
            protocol_type: None,
            protocol: None,
            leader: None,
            members: Vec::new(),
            rebalance_deadline: now,
            initial_delay: false,
        });
        if !group.members.is_empty() {
            let same_type = group.protocol_type.as_deref() == Some(req.protocol_type.as_str());
            let candidates = group.candidate_protocols(Some(&req.member_id));
            let shared = candidates.is_empty() || req.protocols.iter().any(|(n, _)| candidates.contains(n));
            if !same_type || !shared {
                return Err(Error::InconsistentGroupProtocol(format!(
                    "group '{}' uses protocol type {:?} with protocols {candidates:?}; this member offers \
                     type '{}' with {:?}",
                    group.id,
                    group.protocol_type,
                    req.protocol_type,
                    req.protocols.iter().map(|(n, _)| n).collect::<Vec<_>>()
                )));
            }
        }
        let session_timeout = Duration::from_millis(req.session_timeout_ms as u64);
        let rebalance_timeout = if req.rebalance_timeout_ms > 0 {
            Duration::from_millis(req.rebalance_timeout_ms as u64)
        } else {
            session_timeout
        };
        let (tx, rx) = oneshot::channel();
        if req.member_id.is_empty() {
            if let Some(instance) = &req.group_instance_id
                && let Some(old) = group.members.iter().find(|m| m.instance_id.as_ref() == Some(instance))
            {
                let old_id = old.id.clone();
                group.remove_member(&old_id, || Error::FencedInstanceId(instance.clone()));
            }
            let n = self.next_member.fetch_add(1, Ordering::Relaxed);
            let prefix = if req.client_id.is_empty() { "member" } else { req.client_id.as_str() };
            let id = format!("{prefix}-{:x}-{n}", crate::util::now_ms());
            group.members.push(Member {
                id,
                instance_id: req.group_instance_id.clone(),
                client_id: req.client_id.clone(),
                client_host: req.client_host.clone(),
                session_timeout,
                rebalance_timeout,
                protocols: req.protocols.clone(),
                assignment: Bytes::new(),
                join_waiter: Some(tx),
                sync_waiter: None,
                last_heartbeat: now,
            });
            if group.members.len() == 1 {
                group.protocol_type = Some(req.protocol_type.clone());
            }
            if group.state != GroupState::PreparingRebalance {
                group.prepare_rebalance(now, self.config.initial_rebalance_delay);
            }
        } else {
            let is_leader = group.leader.as_deref() == Some(req.member_id.as_str());
            let Some(member) = group.members.iter_mut().find(|m| m.id == req.member_id) else {
                return Err(Error::UnknownMemberId { group: req.group_id, member: req.member_id });
            };
            let changed = member.protocols != req.protocols;
            member.protocols = req.protocols.clone();
            member.session_timeout = session_timeout;
            member.rebalance_timeout = rebalance_timeout;
            member.client_id = req.client_id.clone();
            member.client_host = req.client_host.clone();
            member.last_heartbeat = now;
            member.join_waiter = Some(tx);
            match group.state {
                GroupState::PreparingRebalance => {}
                GroupState::CompletingRebalance if !changed => {
                    // A retried join of the current generation: answer it again.
                    group.answer_join(&req.member_id);
                }
                GroupState::Stable if !changed && !is_leader => group.answer_join(&req.member_id),
                _ => group.prepare_rebalance(now, self.config.initial_rebalance_delay),
            }
        }
        group.try_complete_join(now);
        Ok(JoinOutcome::Wait(rx))
    }

    /// Handles SyncGroup: the leader's call distributes the assignments; a follower's call
    /// returns once the leader's has arrived.
    pub async fn sync(
        &self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        protocol_type: Option<&str>,
        protocol_name: Option<&str>,
        assignments: Vec<(String, Bytes)>,
    ) -> Result<SyncResponse> {
        let rx = {
            let mut groups = self.groups.lock();
            let group = groups.get_mut(group_id).ok_or_else(|| unknown_member(group_id, member_id))?;
            if group.member(member_id).is_none() {
                return Err(unknown_member(group_id, member_id));
            }
            if generation != group.generation {
                return Err(Error::IllegalGeneration {
                    group: group_id.to_string(),
                    current: group.generation,
                    got: generation,
                });
            }
            if protocol_type.is_some_and(|t| Some(t) != group.protocol_type.as_deref())
                || protocol_name.is_some_and(|n| Some(n) != group.protocol.as_deref())
            {
                return Err(Error::InconsistentGroupProtocol(format!(
                    "group '{group_id}' uses {:?}/{:?}, SyncGroup named {protocol_type:?}/{protocol_name:?}",
                    group.protocol_type, group.protocol
                )));
            }
            match group.state {
                GroupState::Empty | GroupState::Dead => return Err(unknown_member(group_id, member_id)),
                GroupState::PreparingRebalance => {
                    return Err(Error::RebalanceInProgress(group_id.to_string()));
                }
                GroupState::Stable => {
                    let member =
                        group.member(member_id).ok_or_else(|| unknown_member(group_id, member_id))?;
                    return Ok(group.sync_response(member.assignment.clone()));
                }
                GroupState::CompletingRebalance => {
                    let (tx, rx) = oneshot::channel();
                    let is_leader = group.leader.as_deref() == Some(member_id);
                    if let Some(m) = group.members.iter_mut().find(|m| m.id == member_id) {
                        m.sync_waiter = Some(tx);
                        m.last_heartbeat = Instant::now();
                    }
                    if is_leader {
                        let mut by_member: HashMap<String, Bytes> = assignments.into_iter().collect();
                        for m in &mut group.members {
                            m.assignment = by_member.remove(&m.id).unwrap_or_default();
                        }
                        group.state = GroupState::Stable;
                        let (ptype, pname) = (group.protocol_type.clone(), group.protocol.clone());
                        for m in &mut group.members {
                            if let Some(w) = m.sync_waiter.take() {
                                let _ = w.send(Ok(SyncResponse {
                                    protocol_type: ptype.clone(),
                                    protocol_name: pname.clone(),
                                    assignment: m.assignment.clone(),
                                }));
                            }
                        }
                    }
                    rx
                }
            }
        };
        rx.await.map_err(|_| Error::ShuttingDown)?
    }

    /// Handles Heartbeat.
    pub fn heartbeat(&self, group_id: &str, generation: i32, member_id: &str) -> Result<()> {
        let mut groups = self.groups.lock();
        let group = groups.get_mut(group_id).ok_or_else(|| unknown_member(group_id, member_id))?;
        let current = group.generation;
        let state = group.state;
        let member = group
            .members
            .iter_mut()
            .find(|m| m.id == member_id)
            .ok_or_else(|| unknown_member(group_id, member_id))?;
        member.last_heartbeat = Instant::now();
        if generation != current {
            return Err(Error::IllegalGeneration { group: group_id.to_string(), current, got: generation });
        }
        match state {
            GroupState::PreparingRebalance => Err(Error::RebalanceInProgress(group_id.to_string())),
            GroupState::Empty | GroupState::Dead => Err(unknown_member(group_id, member_id)),
            GroupState::CompletingRebalance | GroupState::Stable => Ok(()),
        }
    }

    /// Handles LeaveGroup for one member (by member id, or by static instance id when the
    /// member id is empty). Starts a rebalance.
    pub fn leave(&self, group_id: &str, member_id: &str, instance_id: Option<&str>) -> Result<()> {
        let mut groups = self.groups.lock();
        let group = groups.get_mut(group_id).ok_or_else(|| unknown_member(group_id, member_id))?;
        let id = if member_id.is_empty() {
            instance_id
                .and_then(|i| group.members.iter().find(|m| m.instance_id.as_deref() == Some(i)))
                .map(|m| m.id.clone())
        } else {
            group.member(member_id).map(|m| m.id.clone())
        };
        let id = id.ok_or_else(|| unknown_member(group_id, member_id))?;
        tracing::debug!(group = group_id, member = %id, "member left");
        group.remove_member(&id, || Error::UnknownMemberId {
            group: group_id.to_string(),
            member: id.clone(),
        });
        group.after_removal(Instant::now(), self.config.initial_rebalance_delay);
        Ok(())
    }

    /// Checks that a member may commit offsets for the group now.
    pub fn validate_commit(&self, group_id: &str, generation: i32, member_id: &str) -> Result<()> {
        if group_id.is_empty() {
            return Err(Error::InvalidGroupId(group_id.to_string()));
        }
        let mut groups = self.groups.lock();
        let Some(group) = groups.get_mut(group_id) else {
            // A "simple" consumer that manages its own partitions.
            return if generation < 0 { Ok(()) } else { Err(unknown_member(group_id, member_id)) };
        };
        if generation < 0 && group.state == GroupState::Empty {
            return Ok(());
        }
        if group.state == GroupState::CompletingRebalance {
            return Err(Error::RebalanceInProgress(group_id.to_string()));
        }
        let current = group.generation;
        let member = group
            .members
            .iter_mut()
            .find(|m| m.id == member_id)
            .ok_or_else(|| unknown_member(group_id, member_id))?;
        if generation != current {
            return Err(Error::IllegalGeneration { group: group_id.to_string(), current, got: generation });
        }
        member.last_heartbeat = Instant::now();
        Ok(())
    }

    /// Validates and durably stores committed offsets. Returns once they are fsynced.
    pub async fn commit_offsets(
        &self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        offsets: Vec<(String, i32, OffsetAndMetadata)>,
    ) -> Result<()> {
        self.validate_commit(group_id, generation, member_id)?;
        self.broker.commit_offsets(group_id, offsets).await
    }

    /// Committed offsets of a group: for the given `(topic, partitions)`, or all of them.
    pub fn fetch_offsets(
        &self,
        group_id: &str,
        topics: Option<Vec<(String, Vec<i32>)>>,
    ) -> Vec<(String, i32, Option<OffsetAndMetadata>)> {
        let store = self.broker.group_offsets();
        match topics {
            Some(topics) => topics
                .into_iter()
                .flat_map(|(t, parts)| {
                    parts.into_iter().map(move |p| {
                        let o = store.fetch(group_id, &t, p);
                        (t.clone(), p, o)
                    })
                })
                .collect(),
            None => store.fetch_all(group_id).into_iter().map(|(t, p, o)| (t, p, Some(o))).collect(),
        }
    }

    /// The membership half of DeleteGroups ([`Broker::delete_group`] removes the offsets):
    /// refuses a group with members ([`Error::NonEmptyGroup`]), otherwise forgets the group's
    /// state. Returns whether the coordinator knew the group.
    pub(crate) fn remove_if_empty(&self, group_id: &str) -> Result<bool> {
        let mut groups = self.groups.lock();
        match groups.get(group_id) {
            Some(g) if !g.members.is_empty() => Err(Error::NonEmptyGroup(group_id.to_string())),
            Some(_) => {
                groups.remove(group_id);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// All groups: those with members and those that only have committed offsets.
    pub fn list_groups(&self) -> Vec<GroupListing> {
        let mut out: Vec<GroupListing> = self
            .groups
            .lock()
            .values()
            .map(|g| GroupListing {
                group_id: g.id.clone(),
                protocol_type: g.protocol_type.clone().unwrap_or_default(),
                state: g.state,
            })
            .collect();
        for id in self.broker.group_offsets().groups() {
            if !out.iter().any(|g| g.group_id == id) {
                out.push(GroupListing {
                    group_id: id,
                    protocol_type: String::new(),
                    state: GroupState::Empty,
                });
            }
        }
        out.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        out
    }

    /// Describes one group (`Dead` if it is unknown).
    pub fn describe_group(&self, group_id: &str) -> GroupDescription {
        let groups = self.groups.lock();
        match groups.get(group_id) {
            Some(g) => {
                let protocol = g.protocol.clone().unwrap_or_default();
                let show_protocol = matches!(g.state, GroupState::Stable | GroupState::CompletingRebalance);
                GroupDescription {
                    group_id: g.id.clone(),
                    state: g.state,
                    protocol_type: g.protocol_type.clone().unwrap_or_default(),
                    protocol: if show_protocol { protocol.clone() } else { String::new() },
                    members: g
                        .members
                        .iter()
                        .map(|m| MemberDescription {
                            member_id: m.id.clone(),
                            group_instance_id: m.instance_id.clone(),
                            client_id: m.client_id.clone(),
                            client_host: m.client_host.clone(),
                            metadata: m.metadata_for(&protocol),
                            assignment: m.assignment.clone(),
                        })
                        .collect(),
                }
            }
            None => {
                let has_offsets = !self.broker.group_offsets().fetch_all(group_id).is_empty();
                GroupDescription {
                    group_id: group_id.to_string(),
                    state: if has_offsets { GroupState::Empty } else { GroupState::Dead },
                    protocol_type: String::new(),
                    protocol: String::new(),
                    members: Vec::new(),
                }
            }
        }
    }

    /// Drives the timers: removes members whose session expired and completes rebalances whose
    /// deadline passed. Call it periodically (the server does, every 100 ms).
    pub fn tick(&self) {
        let now = Instant::now();
        let mut groups = self.groups.lock();
        for group in groups.values_mut() {
            let expired: Vec<String> = group
                .members
                .iter()
                .filter(|m| {
                    m.join_waiter.is_none()
                        && m.sync_waiter.is_none()
                        && now.duration_since(m.last_heartbeat) > m.session_timeout
                })
                .map(|m| m.id.clone())
                .collect();
            for id in &expired {
                tracing::info!(group = %group.id, member = %id, "member session expired");
                let gid = group.id.clone();
                group.remove_member(id, || Error::UnknownMemberId { group: gid.clone(), member: id.clone() });
            }
            if !expired.is_empty() {
                group.after_removal(now, self.config.initial_rebalance_delay);
            }
            group.try_complete_join(now);
        }
        groups.retain(|_, g| !(g.state == GroupState::Empty && g.members.is_empty() && g.generation == 0));
    }
}

fn unknown_member(group: &str, member: &str) -> Error {
    Error::UnknownMemberId { group: group.to_string(), member: member.to_string() }
}

impl Group {
    fn member(&self, id: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.id == id)
    }

    /// Protocols every member (except `except`) supports, in the first member's order.
    fn candidate_protocols(&self, except: Option<&str>) -> Vec<String> {
        let mut members = self.members.iter().filter(|m| Some(m.id.as_str()) != except);
        let Some(first) = members.next() else {
            return Vec::new();
        };
        let mut candidates: Vec<String> = first.protocols.iter().map(|(n, _)| n.clone()).collect();
        for m in members {
            candidates.retain(|c| m.protocols.iter().any(|(n, _)| n == c));
        }
        candidates
    }

    /// Each member votes for its most preferred candidate; the most votes wins.
    fn choose_protocol(&self) -> Option<String> {
        let candidates = self.candidate_protocols(None);
        let mut votes: Vec<(String, usize)> = candidates.iter().map(|c| (c.clone(), 0)).collect();
        for m in &self.members {
            if let Some((name, _)) = m.protocols.iter().find(|(n, _)| candidates.contains(n))
                && let Some(v) = votes.iter_mut().find(|(c, _)| c == name)
            {
                v.1 += 1;
            }
        }
        let best = votes.iter().map(|(_, n)| *n).max()?;
        votes.into_iter().find(|(_, n)| *n == best).map(|(c, _)| c)
    }

    fn prepare_rebalance(&mut self, now: Instant, initial_delay: Duration) {
        if self.state == GroupState::CompletingRebalance {
            for m in &mut self.members {
                m.assignment = Bytes::new();
                if let Some(w) = m.sync_waiter.take() {
                    let _ = w.send(Err(Error::RebalanceInProgress(self.id.clone())));
                }
            }
        }
        let longest = self.members.iter().map(|m| m.rebalance_timeout).max().unwrap_or(Duration::ZERO);
        if self.state == GroupState::Empty && !initial_delay.is_zero() {
            self.initial_delay = true;
            self.rebalance_deadline = now + initial_delay.min(longest);
        } else {
            self.initial_delay = false;
            self.rebalance_deadline = now + longest;
        }
        self.state = GroupState::PreparingRebalance;
        tracing::debug!(group = %self.id, generation = self.generation, "preparing rebalance");
    }

    fn after_removal(&mut self, now: Instant, initial_delay: Duration) {
        if matches!(self.state, GroupState::Stable | GroupState::CompletingRebalance) {
            self.prepare_rebalance(now, initial_delay);
        }
        self.try_complete_join(now);
    }

    fn remove_member(&mut self, id: &str, error: impl Fn() -> Error) {
        if let Some(pos) = self.members.iter().position(|m| m.id == id) {
            let mut m = self.members.remove(pos);
            if let Some(w) = m.join_waiter.take() {
                let _ = w.send(Err(error()));
            }
            if let Some(w) = m.sync_waiter.take() {
                let _ = w.send(Err(error()));
            }
        }
        if self.leader.as_deref() == Some(id) {
            self.leader = None;
        }
    }

    fn try_complete_join(&mut self, now: Instant) {
        if self.state != GroupState::PreparingRebalance {
            return;
        }
        let all_joined = self.members.iter().all(|m| m.join_waiter.is_some());
        let deadline_passed = now >= self.rebalance_deadline;
        let ready = if self.initial_delay { deadline_passed } else { all_joined || deadline_passed };
        if !ready {
            return;
        }
        // Members that did not rejoin in time are out.
        let late: Vec<String> =
            self.members.iter().filter(|m| m.join_waiter.is_none()).map(|m| m.id.clone()).collect();
        for id in &late {
            tracing::info!(group = %self.id, member = %id, "member did not rejoin in time");
            let gid = self.id.clone();
            self.remove_member(id, || Error::UnknownMemberId { group: gid.clone(), member: id.clone() });
        }
        self.generation += 1;
        self.initial_delay = false;
        if self.members.is_empty() {
            self.state = GroupState::Empty;
            self.protocol = None;
            self.leader = None;
            return;
        }
        self.protocol = self.choose_protocol();
        if self.leader.as_ref().is_none_or(|l| self.member(l).is_none()) {
            self.leader = self.members.first().map(|m| m.id.clone());
        }
        self.state = GroupState::CompletingRebalance;
        tracing::debug!(group = %self.id, generation = self.generation, members = self.members.len(), "rebalance completed");
        let ids: Vec<String> = self.members.iter().map(|m| m.id.clone()).collect();
        for id in ids {
            if let Some(m) = self.members.iter_mut().find(|m| m.id == id) {
                m.last_heartbeat = now;
            }
            self.answer_join(&id);
        }
    }

    /// Sends the current generation's JoinGroup answer to a member's parked join.
    fn answer_join(&mut self, member_id: &str) {
        let protocol = self.protocol.clone().unwrap_or_default();
        let leader = self.leader.clone().unwrap_or_default();
        let members = if leader == member_id {
            self.members
                .iter()
                .map(|m| JoinedMember {
                    member_id: m.id.clone(),
                    group_instance_id: m.instance_id.clone(),
                    metadata: m.metadata_for(&protocol),
                })
                .collect()
        } else {
            Vec::new()
        };
        let response = JoinResponse {
            generation_id: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol.clone(),
            leader,
            member_id: member_id.to_string(),
            members,
        };
        if let Some(m) = self.members.iter_mut().find(|m| m.id == member_id)
            && let Some(w) = m.join_waiter.take()
        {
            let _ = w.send(Ok(response));
        }
    }

    fn sync_response(&self, assignment: Bytes) -> SyncResponse {
        SyncResponse {
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol.clone(),
            assignment,
        }
    }
}
