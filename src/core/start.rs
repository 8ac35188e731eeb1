//! The core at start, from the database: the registry, consent, statuses, prompts,
//! invites and mutes as they were left; and the database handed back at the end.

use std::time::SystemTime;

use tracing::{error, info};

use super::*;

impl Core {
    /// `salt` seeds unguessable command session ids; pass something random.
    pub fn new(mut config: CoreConfig, store: Store, now: SystemTime, salt: u64) -> Core {
        config.salt = salt;
        let directory = Directory::new(config.directory.clone(), &config.domains);
        let (registry, registry_version) = load_registry(&store);
        let mut consent = Consent::new(config.consent);
        let mut self_status = SelfStatuses::default();
        let mut prompts = Prompts::default();
        let mut invites = crate::invites::Book::new(config.rights.invites.session_max_secs);
        let mut mutes = crate::invites::mutes::Mutes::default();
        let mut askers = crate::rights::askers::Askers::new(config.access.clone());
        match store.askers() {
            Ok(rows) => {
                for (jid, at) in rows {
                    askers.load(jid, at);
                }
            }
            Err(e) => {
                error!(error = %e, "cannot read the platforms outside the registry that asked; users see them again once they ask")
            }
        }
        match (
            store.consents(),
            store.self_statuses(),
            store.pending_prompts(),
        ) {
            (Ok(consents), Ok(statuses), Ok(pending)) => {
                for (user, platform, share) in consents {
                    consent.load(user, platform, share);
                }
                for status in statuses {
                    self_status.apply(&status.user.clone(), Some(status));
                }
                for prompt in pending {
                    prompts.insert(prompt);
                }
            }
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
                error!(error = %e, "cannot read users' consent and statuses; every user is treated as not consenting until the bridge restarts");
                consent = Consent::new(crate::rights::consent::ConsentPolicy::OptIn);
            }
        }
        let cooldown = config.rights.invites.cooldown_secs;
        match load_invites(&store, unix_secs(now), cooldown, &mut invites, &mut mutes) {
            Ok(()) => {
                if !invites.is_empty() {
                    info!(
                        invites = invites.len(),
                        "open invites read from the database"
                    );
                }
            }
            Err(e) => {
                error!(error = %e, "cannot read open invites and mutes; they are read again at the next start")
            }
        }
        let schema_version = store.schema_version().unwrap_or(0);
        // A new database starts its sequence at a random point, so that ids tell nothing
        // of how many came before.
        let next_id = store
            .meta(NEXT_ID)
            .ok()
            .flatten()
            .and_then(|v| v.parse().ok())
            .unwrap_or(crate::prompts::FIRST_ID + salt % crate::prompts::FIRST_ID_SPREAD);
        let state = State {
            health: Health::new(now),
            directory,
            store: storage::Storage::Here(store),
            schema_version,
            registry,
            consent,
            self_status,
            audit: AuditLog::default(),
            prompts,
            invites,
            mutes,
            askers,
            next_id,
            ids_reserved: next_id,
        };
        Core {
            storing: storage::Waiting::default(),
            next_op: 0,
            registry_version,
            registry_checked: now,
            sent: Vec::new(),
            resent: false,
            component_jid: Jid::from(config.component.clone()),
            sessions: Sessions::new(config.command_session, salt),
            iq: IqTracker::new(config.iq_timeout),
            state,
            parked: Parked::default(),
            rates: RateLimits::new(config.platform_rate, config.other_rate),
            noisy: Throttle::new(NOISY_INTERVAL),
            pending_since: None,
            storage_retry: None,
            last_prune: now,
            sessions_asked: Vec::new(),
            config,
        }
    }

    /// Keeps its figures in these (shared with the operator's listener, made before the
    /// core was).
    pub fn share(
        &mut self,
        http: std::sync::Arc<crate::health::HttpStats>,
        histograms: std::sync::Arc<crate::health::Histograms>,
    ) {
        self.state.health.http = http;
        self.state.health.histograms = histograms;
    }

    /// From now on the database is away: jobs leave in the outbox for a storage worker,
    /// which is given the store returned, and their outcomes come back as
    /// [`Input::Stored`]s. (`None`: it was away already.)
    pub fn send_store_away(&mut self) -> Option<Store> {
        match std::mem::replace(
            &mut self.state.store,
            storage::Storage::Away { in_flight: 0 },
        ) {
            storage::Storage::Here(store) => Some(store),
            away => {
                self.state.store = away;
                None
            }
        }
    }

    /// Gives the store back for a clean close at shutdown, with every pending write done
    /// (one last try, whatever the backoff says); where the database is away, the last
    /// batch leaves in `out` for the storage worker, and `None` is given.
    pub fn into_store(mut self, out: &mut Outbox) -> Option<Store> {
        let now = self
            .state
            .health
            .storage_failing_since
            .unwrap_or(self.state.health.started_at);
        self.storing.batch = false;
        self.flush_writes(now, out);
        match self.state.store {
            storage::Storage::Here(store) => Some(store),
            storage::Storage::Away { .. } => None,
        }
    }
}

/// The invites that may still change, with their invitees, and every mute.
fn load_invites(
    store: &Store,
    now: u32,
    cooldown: u32,
    invites: &mut crate::invites::Book,
    mutes: &mut crate::invites::mutes::Mutes,
) -> Result<(), crate::store::StoreError> {
    let mut invitations: std::collections::HashMap<String, Vec<_>> = Default::default();
    for prompt in store.live_invitations(now)? {
        let invite = prompt.invite.clone().unwrap_or_default();
        invitations.entry(invite).or_default().push(prompt);
    }
    for record in store.live_invites(now)? {
        let prompts = invitations.remove(&record.id).unwrap_or_default();
        invites.load(record, prompts);
    }
    // The last hour's invitations per host (the per-host rate).
    let window = crate::invites::RATE_WINDOW_SECS;
    for (host, at, sent) in store.invites_since(now.saturating_sub(window))? {
        invites.note_sent(&host, at, sent);
    }
    // The runs of declines that may still hold an invitee's cooldown.
    for (user, host, answer, at) in store.invitation_answers(now.saturating_sub(cooldown))? {
        if let Some(answer) = crate::invites::Answer::from_stored(&answer) {
            invites.note_answer(&user, &host, answer, at);
        }
    }
    for (user, host) in store.mutes()? {
        mutes.apply(&crate::store::Write::Mute {
            user,
            host,
            mute: true,
            at: 0,
        });
    }
    Ok(())
}

/// The registry as stored, and the `data_version` it was read at; empty (with a log
/// line) if the database cannot be read.
pub(super) fn load_registry(store: &Store) -> (Registry, i64) {
    let version = store.data_version().unwrap_or(0);
    match store.platforms() {
        Ok(records) => (Registry::from_records(records), version),
        Err(e) => {
            error!(error = %e, "cannot read the registry of platforms");
            (Registry::default(), version)
        }
    }
}
