//! The event stream: `GET /v1/events`, Server-Sent Events from the news outbox, for
//! platforms that cannot receive webhooks. The same events, with the same ids, whether
//! or not a webhook also takes them.
//!
//! Each event is `id: <id>`, `event: <type>` and one `data:` line of its JSON. Without a
//! `Last-Event-ID` header the stream starts with what comes next; with one, after that
//! event, among those still kept (7 days, 100,000 per platform). A comment every
//! [`HEARTBEAT`] keeps proxies from closing a quiet stream.
//!
//! The token is checked here, against the registry as this connection reads it (read
//! again whenever the CLI changed the database), as the core checks it: a valid token of
//! a platform the HTTP door is open to.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::body::Bytes;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use hyper::Response;
use tokio::sync::mpsc;

use super::body::Body;
use super::webhook::Shared;
use crate::failure::Failure;
use crate::rights::platforms::Registry;

/// How often a quiet stream carries a comment.
pub const HEARTBEAT: Duration = Duration::from_secs(15);
/// Events read from the outbox at once.
const BATCH: usize = 100;
/// Chunks waiting to be written to a slow reader, at most; the stream waits for it.
const CHUNKS: usize = 16;

/// The registry as the door's connection last read it.
#[derive(Default)]
pub struct Tokens(Mutex<Option<(Registry, i64)>>);

impl Tokens {
    /// The platform (bare JID) `token` was issued to, if it may use the HTTP door.
    pub async fn platform(&self, shared: &Shared, token: Option<&str>) -> Result<String, Failure> {
        let unknown = crate::rights::token::needed;
        let token = token.ok_or_else(unknown)?;
        let version = shared
            .with_store(|s| s.data_version().ok())
            .await
            .flatten()
            .unwrap_or(-1);
        let stale = self
            .0
            .lock()
            .map_err(|_| Failure::internal())?
            .as_ref()
            .is_none_or(|(_, v)| *v != version);
        if stale {
            let records = shared
                .with_store(|s| s.platforms().ok())
                .await
                .flatten()
                .ok_or_else(Failure::internal)?;
            *self.0.lock().map_err(|_| Failure::internal())? =
                Some((Registry::from_records(records), version));
        }
        let held = self.0.lock().map_err(|_| Failure::internal())?;
        let (registry, _) = held.as_ref().ok_or_else(Failure::internal)?;
        let (jid, entry) = registry.by_token(token).ok_or_else(unknown)?;
        if !entry.profile.doors.allows(super::DOOR) {
            return Err(crate::rights::platforms::Doors::closed(super::DOOR));
        }
        Ok(jid.to_owned())
    }
}

/// The streaming response for `platform`, after event `after` (`None`: from now).
pub async fn open(
    shared: Arc<Shared>,
    platform: String,
    after: Option<i64>,
) -> Result<Response<Body>, Failure> {
    let after = match after {
        Some(after) => after,
        None => shared
            .with_store(|s| s.news_last_id().ok())
            .await
            .flatten()
            .ok_or_else(Failure::internal)?,
    };
    let (tx, rx) = mpsc::channel(CHUNKS);
    tokio::spawn(feed(shared, platform, after, tx));
    let mut response = Response::new(Body::Stream(rx));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // nginx buffers a proxied response unless told not to.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

/// Writes the events as they come, until the reader goes.
async fn feed(shared: Arc<Shared>, platform: String, mut after: i64, tx: mpsc::Sender<Bytes>) {
    let _open = super::Gauge::up(&shared.stats.streams_open);
    let mut wake = shared.wake.clone();
    if tx
        .send(Bytes::from_static(
            b": xmpp-game-bridge news\nretry: 2000\n\n",
        ))
        .await
        .is_err()
    {
        return;
    }
    loop {
        let asked = platform.clone();
        let events = shared
            .with_store(move |s| s.news_after(&asked, after, BATCH).ok())
            .await
            .flatten()
            .unwrap_or_default();
        let more = events.len() == BATCH;
        for event in events {
            after = event.id;
            let kind = serde_json::from_str::<serde_json::Value>(&event.body)
                .ok()
                .and_then(|v| v["type"].as_str().map(str::to_owned))
                .unwrap_or_else(|| "news".to_owned());
            let chunk = format!(
                "id: {}\nevent: {kind}\ndata: {}\n\n",
                event.id,
                event.json()
            );
            if tx.send(Bytes::from(chunk)).await.is_err() {
                return;
            }
        }
        if more {
            continue;
        }
        tokio::select! {
            changed = wake.changed() => if changed.is_err() { return },
            _ = tokio::time::sleep(HEARTBEAT) => {
                if tx.send(Bytes::from_static(b": keep-alive\n\n")).await.is_err() {
                    return;
                }
            }
            _ = tx.closed() => return,
        }
    }
}

/// The event id of a `Last-Event-ID` header.
pub fn last_event_id(header: Option<&[u8]>) -> Result<Option<i64>, Failure> {
    let Some(header) = header else {
        return Ok(None);
    };
    std::str::from_utf8(header)
        .ok()
        .and_then(|t| t.trim().parse::<i64>().ok())
        .filter(|id| *id >= 0)
        .map(Some)
        .ok_or_else(|| Failure::bad_request("Last-Event-ID is the id of an event the stream gave"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_event_id_is_a_number_or_refused() {
        assert_eq!(last_event_id(None), Ok(None));
        assert_eq!(last_event_id(Some(b" 17 ")), Ok(Some(17)));
        for bad in [&b"x"[..], b"-1", b"\xff", b""] {
            assert_eq!(last_event_id(Some(bad)).unwrap_err().http_status(), 400);
        }
    }
}
