//! The operator's settings a handler reads (`[rights]`, with the invites').

/// The operator's settings for executable rights (`[rights]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RightsConfig {
    /// URL schemes `open-url` may send (lowercase).
    pub url_schemes: Vec<String>,
    /// At most one `attention` per user per this many seconds, whichever platform asks.
    pub attention_interval_secs: u32,
    /// Game invites: expiry, size and abuse limits.
    pub invites: crate::invites::InvitesConfig,
}

impl Default for RightsConfig {
    fn default() -> Self {
        RightsConfig {
            url_schemes: vec!["https".to_owned()],
            attention_interval_secs: 60,
            invites: crate::invites::InvitesConfig::default(),
        }
    }
}
