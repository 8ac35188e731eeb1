//! The operator's command line on the database: the registry of platforms. It works
//! while the bridge runs (SQLite in WAL mode); the bridge sees a change at its next
//! request from a platform.

use std::fmt::Write as _;
use std::str::FromStr;

use xmpp_parsers::jid::BareJid;

use crate::directory::unix_secs;
use crate::rights::platforms::{Doors, Shape};
use crate::rights::{token, Rights};
use crate::store::{AuditFilter, PlatformRecord, Store};

/// A platform to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPlatform {
    pub jid: String,
    pub name: Option<String>,
    pub authorized: bool,
    pub rights: Option<String>,
    pub domains: Vec<String>,
    /// URI schemes its `launch` may use.
    pub launch_schemes: Vec<String>,
    /// The shape of its answers unless a request asks for another (`form`, `compact`).
    pub answers: Option<String>,
    /// The front doors it may ask through (`xmpp`, `http`; default both).
    pub doors: Option<String>,
}

impl NewPlatform {
    /// An authorized platform with the default rights, named after its JID.
    pub fn authorized(jid: &str) -> NewPlatform {
        NewPlatform {
            jid: jid.to_owned(),
            name: None,
            authorized: true,
            rights: None,
            domains: Vec::new(),
            launch_schemes: Vec::new(),
            answers: None,
            doors: None,
        }
    }
}

fn now() -> u32 {
    unix_secs(std::time::SystemTime::now())
}

fn bare_jid(jid: &str) -> Result<BareJid, String> {
    BareJid::from_str(jid.trim()).map_err(|e| format!("{jid:?} is not a valid JID ({e})"))
}

/// A platform's JID: a bot account (`arcade@example.org`) or a component's domain
/// (`games.example.org`). A bare word such as `notajid` parses as a JID (a domain), but no
/// server would route a platform's requests from it.
pub fn platform_jid(jid: &str) -> Result<BareJid, String> {
    let parsed = BareJid::from_str(jid.trim()).map_err(|e| {
        format!("{jid:?} is not a platform's JID ({e}): give the bot account's JID (arcade@example.org) or a component's domain (games.example.org)")
    })?;
    if parsed.node().is_none() && !parsed.domain().as_str().contains('.') {
        return Err(format!(
            "{jid:?} is not a platform's JID: give the bot account's JID (arcade@example.org) or a component's domain (games.example.org)"
        ));
    }
    Ok(parsed)
}

/// The rights as stored: `None` for "default", else the canonical list.
fn rights_setting(rights: Option<&str>) -> Result<Option<String>, String> {
    match rights.map(str::trim) {
        None | Some("default") => Ok(None),
        Some(list) => Rights::parse(list).map(|r| Some(r.to_string())),
    }
}

fn store_error(e: impl std::fmt::Display) -> String {
    format!("database error: {e}")
}

/// `platform add`: registers a platform (or says it exists). Also used to seed the
/// registry from the configuration, where an existing entry is left as it is.
pub fn add(store: &Store, new: &NewPlatform) -> Result<String, String> {
    let jid = platform_jid(&new.jid)?;
    let rights = rights_setting(new.rights.as_deref())?;
    let domains = new
        .domains
        .iter()
        .map(|d| bare_jid(d).map(|d| d.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    let name = new
        .name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| jid.node().map_or(jid.to_string(), |n| n.to_string()));
    if name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err("the name must be at most 64 characters, without control characters".into());
    }
    let launch_schemes = schemes(&new.launch_schemes)?;
    let answers = new
        .answers
        .as_deref()
        .map(answers_setting)
        .transpose()?
        .flatten();
    let doors = new
        .doors
        .as_deref()
        .map(doors_setting)
        .transpose()?
        .flatten();
    let at = now();
    let record = PlatformRecord {
        jid: jid.to_string(),
        name,
        authorized: new.authorized,
        rights,
        domains: (!domains.is_empty()).then(|| domains.join(",")),
        launch_schemes,
        answers,
        doors,
        created_at: at,
        updated_at: at,
        tokens: Vec::new(),
    };
    if store.add_platform(&record).map_err(store_error)? {
        Ok(format!("added {}", describe(&record)))
    } else {
        Err(format!(
            "{jid} is already registered; remove it first, or change its rights with set-rights"
        ))
    }
}

/// URI schemes as stored: lowercase, checked by the scheme policy, comma-separated.
fn schemes(list: &[String]) -> Result<Option<String>, String> {
    let mut out = Vec::new();
    for scheme in list.iter().flat_map(|s| s.split(',')).map(str::trim) {
        if scheme.is_empty() {
            continue;
        }
        out.push(crate::rights::uri::operator_scheme(scheme)?);
    }
    Ok((!out.is_empty()).then(|| out.join(",")))
}

/// `platform set-launch-schemes`: the URI schemes its `launch` may use (`none`: none).
pub fn set_launch_schemes(store: &Store, jid: &str, list: &str) -> Result<String, String> {
    let jid = bare_jid(jid)?;
    let list = if list.trim() == "none" {
        None
    } else {
        schemes(&[list.to_owned()])?
    };
    if !store
        .set_launch_schemes(jid.as_str(), list.as_deref(), now())
        .map_err(store_error)?
    {
        return Err(format!("{jid} is not registered"));
    }
    show(store, jid.as_str()).map(|p| format!("updated {p}"))
}

/// The shape of answers as stored: `None` for the form (the default), `compact`.
fn answers_setting(word: &str) -> Result<Option<String>, String> {
    match Shape::parse(word) {
        Some(Shape::Form) => Ok(None),
        Some(shape) => Ok(Some(shape.as_str().to_owned())),
        None => Err(format!(
            "answers are \"form\" or \"compact\", not {:?}",
            word.trim()
        )),
    }
}

/// `platform set-answers`: the shape of a platform's answers unless a request asks for
/// another (`form` or `compact`).
pub fn set_answers(store: &Store, jid: &str, answers: &str) -> Result<String, String> {
    let jid = bare_jid(jid)?;
    let answers = answers_setting(answers)?;
    if !store
        .set_answers(jid.as_str(), answers.as_deref(), now())
        .map_err(store_error)?
    {
        return Err(format!("{jid} is not registered"));
    }
    show(store, jid.as_str()).map(|p| format!("updated {p}"))
}

/// The front doors as stored: `None` for both (the default), else the list.
fn doors_setting(word: &str) -> Result<Option<String>, String> {
    if word.trim() == "default" {
        return Ok(None);
    }
    match Doors::parse(word) {
        Some(doors) if doors == Doors::default() => Ok(None),
        Some(doors) => Ok(Some(doors.as_str().to_owned())),
        None => Err(format!(
            "doors are \"xmpp\", \"http\" or both (\"xmpp,http\"), not {}",
            crate::failure::quote(word.trim())
        )),
    }
}

/// `platform set-doors`: the front doors a platform may ask through (`xmpp`, `http`,
/// both, or `default`: both).
pub fn set_doors(store: &Store, jid: &str, doors: &str) -> Result<String, String> {
    let jid = bare_jid(jid)?;
    let doors = doors_setting(doors)?;
    if !store
        .set_doors(jid.as_str(), doors.as_deref(), now())
        .map_err(store_error)?
    {
        return Err(format!("{jid} is not registered"));
    }
    show(store, jid.as_str()).map(|p| format!("updated {p}"))
}

/// One line about a platform.
fn describe(p: &PlatformRecord) -> String {
    let authorized = if p.authorized {
        "authorized"
    } else {
        "unauthorized"
    };
    let rights = match &p.rights {
        Some(r) if r.is_empty() => "no rights".to_owned(),
        Some(r) => format!("rights {r}"),
        None => format!("rights {} (default)", Rights::default_for(p.authorized)),
    };
    let domains = p.domains.as_deref().unwrap_or("all served domains");
    let launch = p.launch_schemes.as_deref().unwrap_or("none");
    let answers = p.answers.as_deref().unwrap_or("form");
    let doors = p.doors.as_deref().unwrap_or("xmpp,http");
    format!(
        "{} \"{}\": {authorized}, {rights}, asks about {domains}, launches {launch}, answers as {answers}, asks through {doors}, {} token(s)",
        p.jid,
        p.name,
        p.tokens.len()
    )
}

/// `platform list`.
pub fn list(store: &Store) -> Result<String, String> {
    let platforms = store.platforms().map_err(store_error)?;
    if platforms.is_empty() {
        return Ok("no platforms registered".to_owned());
    }
    Ok(platforms
        .iter()
        .map(describe)
        .collect::<Vec<_>>()
        .join("\n"))
}

/// `platform show`.
pub fn show(store: &Store, jid: &str) -> Result<String, String> {
    let jid = bare_jid(jid)?;
    let p = store
        .platform(jid.as_str())
        .map_err(store_error)?
        .ok_or_else(|| format!("{jid} is not registered"))?;
    let mut out = describe(&p);
    let _ = write!(
        out,
        "\ncreated {}, updated {}",
        crate::xep::datetime::format(u64::from(p.created_at)),
        crate::xep::datetime::format(u64::from(p.updated_at))
    );
    for t in &p.tokens {
        let _ = write!(
            out,
            "\ntoken {} made {}",
            t.id,
            crate::xep::datetime::format(u64::from(t.created_at))
        );
    }
    Ok(out)
}

/// `platform remove`.
pub fn remove(store: &Store, jid: &str) -> Result<String, String> {
    let jid = bare_jid(jid)?;
    if store.remove_platform(jid.as_str()).map_err(store_error)? {
        Ok(format!("removed {jid} and its tokens"))
    } else {
        Err(format!("{jid} is not registered"))
    }
}

/// `platform set-rights`: a list of rights, `none`, or `default`.
pub fn set_rights(store: &Store, jid: &str, rights: &str) -> Result<String, String> {
    let jid = bare_jid(jid)?;
    let rights = match rights.trim() {
        "none" => Some(String::new()),
        other => rights_setting(Some(other))?,
    };
    if !store
        .set_platform_rights(jid.as_str(), rights.as_deref(), now())
        .map_err(store_error)?
    {
        return Err(format!("{jid} is not registered"));
    }
    show(store, jid.as_str()).map(|p| format!("updated {p}"))
}

/// `platform new-token`: the token, shown this once.
pub fn new_token(store: &Store, jid: &str) -> Result<String, String> {
    let jid = bare_jid(jid)?;
    let made = token::generate().map_err(|e| format!("cannot read random bytes: {e}"))?;
    if !store
        .add_token(jid.as_str(), &made.id, &made.hash, now())
        .map_err(store_error)?
    {
        return Err(format!("{jid} is not registered"));
    }
    Ok(format!(
        "token {} for {jid} (shown only now; keep it secret, pass it in the hidden \"token\" field of command forms, or over HTTP as \"Authorization: Bearer <token>\"):\n{}",
        made.id, made.token
    ))
}

/// `platform set-webhook`: where the platform's news (of what it started over HTTP) are
/// delivered, with a new signing secret shown this once; `none` removes it.
pub fn set_webhook(store: &Store, jid: &str, url: &str) -> Result<String, String> {
    let jid = bare_jid(jid)?;
    if url.trim() == "none" {
        if !store
            .set_webhook(jid.as_str(), None, now())
            .map_err(store_error)?
        {
            return Err(format!("{jid} is not registered"));
        }
        return Ok(format!(
            "removed the webhook of {jid}; its news stay readable from the event stream (GET /v1/events)"
        ));
    }
    let target = crate::news::target::Target::parse(url)?;
    let secret =
        crate::news::signature::generate().map_err(|e| format!("cannot read random bytes: {e}"))?;
    if !store
        .set_webhook(jid.as_str(), Some((url.trim(), &secret)), now())
        .map_err(store_error)?
    {
        return Err(format!("{jid} is not registered"));
    }
    let plain = if target.tls {
        String::new()
    } else {
        format!(
            " (plain http: delivered only if {} is in http.webhook_allow)",
            target.host
        )
    };
    Ok(format!(
        "news of {jid} go to {}{plain}; each delivery is signed (webhook-signature) with this secret, shown only now:\n{secret}",
        url.trim()
    ))
}

/// `platform deliveries`: a platform's latest news events and how each went.
pub fn deliveries(store: &Store, jid: &str, limit: usize) -> Result<String, String> {
    let jid = bare_jid(jid)?;
    if store.platform(jid.as_str()).map_err(store_error)?.is_none() {
        return Err(format!("{jid} is not registered"));
    }
    let hook = store.webhook_url(jid.as_str()).map_err(store_error)?;
    let events = store
        .news_latest(jid.as_str(), limit)
        .map_err(store_error)?;
    let mut out = match &hook {
        Some(url) => format!("webhook {url}"),
        None => "no webhook: news are read from the event stream (GET /v1/events)".to_owned(),
    };
    if events.is_empty() {
        out.push_str("\nno news yet");
    }
    let time = |at: u32| crate::xep::datetime::format(u64::from(at));
    for event in &events {
        let kind = serde_json::from_str::<serde_json::Value>(&event.body)
            .ok()
            .and_then(|v| v["type"].as_str().map(str::to_owned))
            .unwrap_or_default();
        let state = match (event.delivered_at, event.failed_at) {
            (Some(at), _) => format!("delivered {}", time(at)),
            (None, Some(at)) => format!("given up {}", time(at)),
            (None, None) if hook.is_none() => "not delivered (no webhook)".to_owned(),
            (None, None) if event.attempts == 0 => "waiting".to_owned(),
            (None, None) => format!("next attempt {}", time(event.next_at)),
        };
        let _ = write!(
            out,
            "\n#{} {} {kind} ({}): {state}, {} attempt(s)",
            event.id,
            time(event.at),
            event.thread,
            event.attempts
        );
        if let Some(error) = &event.last_error {
            let _ = write!(out, ", last: {error}");
        }
    }
    Ok(out)
}

/// `platform revoke-token`: by the token's id (or the whole token).
pub fn revoke_token(store: &Store, id: &str) -> Result<String, String> {
    let id = token::split(id).map_or(id.trim(), |(id, _)| id);
    match store.revoke_token(id).map_err(store_error)? {
        Some(platform) => Ok(format!("revoked token {id} of {platform}")),
        None => Err(format!("there is no token {id:?}")),
    }
}

/// `audit`: the disclosure record, newest first, filtered by user, platform and time
/// (`since`: an XEP-0082 date-time, a date, or seconds since the Unix epoch).
pub fn audit(
    store: &Store,
    user: Option<&str>,
    platform: Option<&str>,
    since: Option<&str>,
    limit: u32,
) -> Result<String, String> {
    let since = since.map(parse_since).transpose()?;
    let user = user
        .map(|u| bare_jid(u).map(|j| j.to_string()))
        .transpose()?;
    let platform = platform
        .map(|p| bare_jid(p).map(|j| j.to_string()))
        .transpose()?;
    let records = store
        .audit(&AuditFilter {
            user,
            platform,
            since,
            limit,
        })
        .map_err(store_error)?;
    if records.is_empty() {
        return Ok("no records".to_owned());
    }
    Ok(records
        .iter()
        .map(|r| {
            format!(
                "{}  {}  {}  {}",
                crate::xep::datetime::format(u64::from(r.at)),
                r.platform,
                r.user,
                r.command
            )
        })
        .collect::<Vec<_>>()
        .join("\n"))
}

/// A time given on the command line.
fn parse_since(text: &str) -> Result<u32, String> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<u32>() {
        return Ok(secs);
    }
    let full = if text.len() == 10 {
        format!("{text}T00:00:00Z")
    } else {
        text.to_owned()
    };
    crate::xep::datetime::parse(&full)
        .and_then(|secs| u32::try_from(secs).ok())
        .ok_or_else(|| {
            format!("{text:?} is not a time: give 2026-11-28, 2026-11-28T12:00:00Z or seconds since 1970")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(jid: &str) -> NewPlatform {
        NewPlatform::authorized(jid)
    }

    #[test]
    fn a_session_of_the_cli() {
        let store = Store::open_in_memory().unwrap();
        let added = add(&store, &new("arcade@example.test")).unwrap();
        assert!(
            added.contains("\"arcade\": authorized, rights open-url,invite"),
            "{added}"
        );
        assert!(add(&store, &new("arcade@example.test")).is_err());
        let token = new_token(&store, "arcade@example.test").unwrap();
        let line = token.lines().nth(1).unwrap();
        assert!(token::split(line).is_some(), "{token}");
        let shown = show(&store, "arcade@example.test").unwrap();
        assert!(
            shown.contains("1 token(s)") && !shown.contains(line),
            "{shown}"
        );
        let updated = set_rights(&store, "arcade@example.test", "open-url, launch").unwrap();
        assert!(updated.contains("rights open-url,launch"), "{updated}");
        assert!(set_rights(&store, "arcade@example.test", "fly").is_err());
        assert!(set_rights(&store, "arcade@example.test", "none")
            .unwrap()
            .contains("no rights"));
        assert!(revoke_token(&store, line)
            .unwrap()
            .starts_with("revoked token"));
        assert!(revoke_token(&store, line).is_err());
        assert!(remove(&store, "arcade@example.test").is_ok());
        assert_eq!(list(&store).unwrap(), "no platforms registered");
        assert!(add(&store, &new("not a jid@@")).is_err());
        for bad in ["notajid", "arcade@example.test/engine", "", "@example.test"] {
            let refused = add(&store, &new(bad)).unwrap_err();
            assert!(refused.contains("not a platform's JID"), "{bad}: {refused}");
        }
        assert!(add(&store, &new("games.example.test")).is_ok());
    }

    #[test]
    fn the_audit_lists_filtered_records() {
        let mut store = Store::open_in_memory().unwrap();
        let record = |at, user: &str| crate::store::AuditRecord {
            at,
            platform: "arcade@example.test".into(),
            user: user.into(),
            command: "status".into(),
        };
        store
            .append_audit(&[
                record(1_764_288_000, "alice@example.test"),
                record(1_764_374_400, "bob@example.test"),
            ])
            .unwrap();
        let all = audit(&store, None, None, None, 100).unwrap();
        assert_eq!(all.lines().count(), 2);
        assert!(all.lines().next().unwrap().contains("bob@example.test"));
        let since = audit(
            &store,
            None,
            Some("arcade@example.test"),
            Some("2025-11-29"),
            100,
        )
        .unwrap();
        assert_eq!(since.lines().count(), 1, "{since}");
        assert_eq!(
            audit(&store, Some("carol@example.test"), None, None, 100).unwrap(),
            "no records"
        );
        assert!(audit(&store, None, None, Some("yesterday"), 100).is_err());
    }
}
