//! The privacy page: what a user sees and changes of their privacy, in a browser, one
//! link away. A user says `privacy link` in their chat client and gets a one-time link
//! ([`crate::rights::page_link`]); opening it starts a session of [`SESSION_SECS`] held
//! in a cookie (the link then opens nothing). The page shows which platforms see the
//! user (with switches), who looked lately and what each learnt, the invitations
//! waiting (with their answers) and the user's self-defined status.
//!
//! Everything it shows and changes goes through the core as the user's own commands
//! (`privacy`, `invitations`, `answer`, `my-status`) by the page's door
//! ([`PAGE_DOOR`]): checked, recorded and answered as the same words in a chat are.
//!
//! Plain HTML and a style sheet of its own, no script, no third-party asset; a strict
//! Content-Security-Policy; forms carry a per-session token (and cookies are
//! `SameSite=Strict`). Bounded: at most [`MAX_SESSIONS`] sessions and [`MAX_USED`]
//! used links are remembered (expired ones are forgotten first); past that, a link is
//! refused with a page saying to try again shortly.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Mutex;

use hyper::body::{Bytes, Incoming};
use hyper::header::{
    HeaderValue, ACCEPT_LANGUAGE, CACHE_CONTROL, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE,
};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::Value;

use super::body::Body;
use super::{Door, HttpStats};
use crate::core::{DoorRequest, Format, PAGE_DOOR};
use crate::rights::page_link::{LinkError, PageLinks, PATH};
use crate::strings::{page_text, Lang};
use crate::xep::forms::{DataForm, Field, FormType};

/// How long a session lasts after its link is opened.
pub const SESSION_SECS: u64 = 30 * 60;
/// Sessions held at once.
pub const MAX_SESSIONS: usize = 10_000;
/// Used links remembered until they expire.
pub const MAX_USED: usize = 100_000;
/// Disclosures the page lists.
const HISTORY: &str = "20";
const COOKIE_NAME: &str = "xgb_privacy";
const STYLE_PATH: &str = "/privacy/style.css";
const STYLE: &str = include_str!("page.css");
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The links and what the listener remembers of them.
pub struct Pages {
    links: PageLinks,
    /// Cookies say `Secure` where users come over HTTPS.
    secure: bool,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Links opened, by token, until they expire (milliseconds).
    used: HashMap<String, u64>,
    sessions: HashMap<String, Session>,
}

struct Session {
    user: String,
    expires_ms: u64,
    /// What the page's forms carry back.
    form_token: String,
}

impl Pages {
    pub fn new(links: PageLinks, public_url: &str) -> Pages {
        Pages {
            links,
            secure: public_url.starts_with("https://"),
            state: Mutex::new(State::default()),
        }
    }

    /// Sessions held (expired ones until they are pruned at the cap): `stats`.
    pub fn sessions(&self) -> usize {
        self.state.lock().map_or(0, |s| s.sessions.len())
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Whether `path` is the page's.
pub fn serves(path: &str) -> bool {
    path == PATH || path.starts_with("/privacy/")
}

impl Door {
    /// Everything under `/privacy`.
    pub(super) async fn privacy(&self, request: Request<Incoming>) -> Response<Body> {
        let lang = browser_lang(&request);
        let t = |english| page_text(lang, english);
        let Some(pages) = &self.links.pages else {
            let text = format!("<p>{}</p>", t("This server has no privacy page."));
            return page(lang, StatusCode::NOT_FOUND, t("Not here"), &text);
        };
        let path = request.uri().path().to_owned();
        if path == STYLE_PATH {
            let mut response = Response::new(Body::whole(Bytes::from_static(STYLE.as_bytes())));
            let headers = response.headers_mut();
            headers.insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/css; charset=utf-8"),
            );
            headers.insert(CACHE_CONTROL, HeaderValue::from_static("max-age=3600"));
            return response;
        }
        if let Some(token) = path.strip_prefix("/privacy/") {
            let response = open(pages, token, lang);
            self.links
                .stats
                .pages_held
                .store(pages.sessions() as u64, Ordering::Relaxed);
            let counter = match response.status() {
                StatusCode::SEE_OTHER => &self.links.stats.pages_opened,
                _ => &self.links.stats.page_links_refused,
            };
            HttpStats::add(counter);
            return response;
        }
        let Some(session) = session_of(pages, &request) else {
            let text = format!(
                "<p>{}</p>",
                esc(t("This page opens from a link the game bridge gives you. Say \"privacy link\" in a chat with it for a new one."))
            );
            return page(
                lang,
                StatusCode::UNAUTHORIZED,
                t("Your privacy page"),
                &text,
            );
        };
        let (user, form_token) = session;
        let mut said = None;
        if request.method() == Method::POST {
            let body = match self.body(request).await {
                Ok(body) => body,
                Err(refusal) => {
                    let text = format!("<p>{}</p>", esc(&refusal.failure.text));
                    return page(lang, refusal.status, t("Not read"), &text);
                }
            };
            let fields = urlencoded(&body);
            if fields.get("form").map(String::as_str) != Some(form_token.as_str()) {
                let text = format!(
                    "<p>{}</p>",
                    t("This form is not from your page. Open your page again and change it there.")
                );
                return page(lang, StatusCode::FORBIDDEN, t("Not changed"), &text);
            }
            said = Some(self.change(&user, &fields, lang).await);
            HttpStats::add(&self.links.stats.page_changes);
        } else if request.method() != Method::GET {
            let text = format!(
                "<p>{}</p>",
                t("The page is read with GET and changed with its buttons.")
            );
            return page(
                lang,
                StatusCode::METHOD_NOT_ALLOWED,
                t("Not allowed"),
                &text,
            );
        }
        self.show(&user, &form_token, said.as_deref(), lang).await
    }

    /// Runs `node` as `user` through the page's door: its JSON answer, or the refusal's
    /// text.
    async fn run(&self, user: &str, node: &str, fields: &[(&str, &str)]) -> Result<Value, String> {
        let mut form = DataForm::new(FormType::Submit, None);
        for (var, value) in fields {
            form.push_field(Field::value(*var, *value));
        }
        let from = user
            .parse()
            .map_err(|_| "who you are is not clear".to_owned())?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let asked = DoorRequest {
            door: PAGE_DOOR,
            id,
            from: Some(from),
            token: None,
            node: node.to_owned(),
            form,
            format: Format::Json,
        };
        let answer = self.ask(asked).await.map_err(|f| f.text)?;
        let answered = answer.result.map_err(|f| f.text)?;
        serde_json::from_str(&answered.body)
            .map_err(|_| "the bridge's answer could not be read".to_owned())
    }

    /// A change asked with one of the page's buttons: what the bridge says of it.
    async fn change(&self, user: &str, fields: &HashMap<String, String>, lang: Lang) -> String {
        let get = |k: &str| fields.get(k).map(String::as_str);
        let result = if let Some(platform) = get("share") {
            self.run(user, "privacy", &[("share", platform)]).await
        } else if let Some(platform) = get("stop") {
            self.run(user, "privacy", &[("stop", platform)]).await
        } else if let (Some(prompt), Some(answer)) = (get("prompt"), get("answer")) {
            self.run(user, "answer", &[("prompt", prompt), ("answer", answer)])
                .await
        } else if let Some(status) = get("status") {
            self.run(user, "my-status", &[("status", status)]).await
        } else {
            return page_text(lang, "Nothing was asked.").to_owned();
        };
        match result {
            Ok(answer) => summary(&answer, lang),
            Err(text) => text,
        }
    }

    /// The page, with what the last change did.
    async fn show(
        &self,
        user: &str,
        form_token: &str,
        said: Option<&str>,
        lang: Lang,
    ) -> Response<Body> {
        let t = |english| page_text(lang, english);
        // One after another: a connection has at most one request waiting for the core.
        let privacy = self.run(user, "privacy", &[]).await;
        let history = self.run(user, "privacy", &[("history", HISTORY)]).await;
        let invitations = self.run(user, "invitations", &[]).await;
        let status = self.run(user, "my-status", &[]).await;
        let mut html = String::new();
        html.push_str(&format!("<p class=who>{}</p>", esc(user)));
        if let Some(said) = said {
            html.push_str(&format!("<p class=said role=status>{}</p>", esc(said)));
        }
        let button = |name: &str, value: &str, label: &str| {
            format!(
                "<form method=post action=\"{PATH}\"><input type=hidden name=form value=\"{}\"><input type=hidden name=\"{}\" value=\"{}\"><button>{}</button></form>",
                esc(form_token),
                esc(name),
                esc(value),
                esc(page_text(lang, label))
            )
        };
        html.push_str(&format!("<section><h2>{}</h2>", t("Platforms")));
        match &privacy {
            Ok(p) => {
                let list = |var: &str, name: &str, label: &str| {
                    let names = strings(p, var);
                    if names.is_empty() {
                        return format!("<li class=none>{}</li>", t("none"));
                    }
                    names
                        .iter()
                        .map(|n| {
                            format!("<li><span>{}</span>{}</li>", esc(n), button(name, n, label))
                        })
                        .collect()
                };
                html.push_str(&format!(
                    "<h3>{}</h3><ul>{}</ul><h3>{}</h3><ul>{}</ul><p>{}</p>",
                    t("See you"),
                    list("sharing", "stop", "Stop"),
                    t("Do not see you"),
                    list("not-sharing", "share", "Share"),
                    esc(&text(p, "others"))
                ));
                html.push_str(&format!(
                    "<div class=row>{}{}</div>",
                    button("share", "all", "Share with every platform"),
                    button("share", "none", "Share with none")
                ));
                let muted = strings(p, "muted");
                if !muted.is_empty() {
                    html.push_str(&format!(
                        "<p>{} {}</p>",
                        t("Game invitations muted from:"),
                        esc(&muted.join(", "))
                    ));
                }
            }
            Err(e) => html.push_str(&format!("<p class=error>{}</p>", esc(e))),
        }
        html.push_str(&format!(
            "</section><section><h2>{}</h2>",
            t("Who looked at you lately")
        ));
        match &history {
            Ok(h) => {
                let lines = strings(h, "history");
                if lines.is_empty() {
                    html.push_str(&format!(
                        "<p>{}</p>",
                        t("No platform looked at you lately.")
                    ));
                } else {
                    html.push_str("<ul>");
                    for line in lines {
                        html.push_str(&format!("<li>{}</li>", esc(&line)));
                    }
                    html.push_str("</ul>");
                }
            }
            Err(e) => html.push_str(&format!("<p class=error>{}</p>", esc(e))),
        }
        html.push_str(&format!(
            "</section><section><h2>{}</h2>",
            t("Invitations waiting")
        ));
        match &invitations {
            Ok(i) => {
                let rows = i
                    .get("items")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                if rows.is_empty() {
                    html.push_str(&format!(
                        "<p>{}</p>",
                        t("No game invitation is waiting for you.")
                    ));
                }
                for row in rows {
                    let id = row.get("id").and_then(Value::as_str).unwrap_or("");
                    let line = row.get("invitation").and_then(Value::as_str).unwrap_or("");
                    let answer = |value: &str, label: &str| {
                        format!(
                            "<form method=post action=\"{PATH}\"><input type=hidden name=form value=\"{}\"><input type=hidden name=prompt value=\"{}\"><input type=hidden name=answer value=\"{value}\"><button>{}</button></form>",
                            esc(form_token),
                            esc(id),
                            page_text(lang, label)
                        )
                    };
                    html.push_str(&format!(
                        "<div class=invitation><p>{}</p><div class=row>{}{}</div></div>",
                        esc(line),
                        answer("yes", "Accept"),
                        answer("no", "Decline")
                    ));
                }
            }
            Err(e) => html.push_str(&format!("<p class=error>{}</p>", esc(e))),
        }
        html.push_str(&format!(
            "</section><section><h2>{}</h2>",
            t("Your status for games")
        ));
        let current = status
            .as_ref()
            .map(|s| text(s, "status"))
            .unwrap_or_default();
        html.push_str(&format!(
            "<form method=post action=\"{PATH}\" class=status><input type=hidden name=form value=\"{}\"><label for=status>{}</label><input id=status name=status maxlength=200 value=\"{}\"><button>{}</button></form>",
            esc(form_token),
            t("What platforms you share with read, kept when you log out (empty: none)"),
            esc(&current),
            t("Save")
        ));
        html.push_str("</section>");
        page(lang, StatusCode::OK, t("Your privacy"), &html)
    }
}

/// Opens a link: a session and its cookie, then the page; or why not.
fn open(pages: &Pages, token: &str, lang: Lang) -> Response<Body> {
    let now = now_ms();
    let t = |english| page_text(lang, english);
    let refused = |status, text: &str| {
        let body = format!(
            "<p>{} {}</p>",
            page_text(lang, text),
            esc(t(
                "Say \"privacy link\" in a chat with the game bridge for a new one."
            ))
        );
        page(lang, status, t("This link does not open"), &body)
    };
    let (user, expires) = match pages.links.check(token, now) {
        Ok(found) => found,
        Err(LinkError::Expired) => {
            return refused(
                StatusCode::GONE,
                "This link has expired: links last 10 minutes.",
            )
        }
        Err(LinkError::Unknown) => {
            return refused(
                StatusCode::NOT_FOUND,
                "This is not a link the game bridge gave, or it gave it before it restarted.",
            )
        }
    };
    // The session's id and its forms' token, drawn at once.
    let Ok(drawn) = crate::rights::token::random::<48>() else {
        return refused(
            StatusCode::SERVICE_UNAVAILABLE,
            "The page cannot open right now.",
        );
    };
    let session = crate::rights::token::hex(&drawn[..24]);
    let form_token = crate::rights::token::hex(&drawn[24..]);
    let Ok(mut state) = pages.state.lock() else {
        return refused(
            StatusCode::SERVICE_UNAVAILABLE,
            "The page cannot open right now.",
        );
    };
    if state.used.contains_key(token) {
        return refused(
            StatusCode::GONE,
            "This link was used already: each opens the page once.",
        );
    }
    if state.used.len() >= MAX_USED || state.sessions.len() >= MAX_SESSIONS {
        state.used.retain(|_, until| *until > now);
        state.sessions.retain(|_, s| s.expires_ms > now);
        if state.used.len() >= MAX_USED || state.sessions.len() >= MAX_SESSIONS {
            return refused(
                StatusCode::SERVICE_UNAVAILABLE,
                "Too many pages are open right now; try again in a few minutes.",
            );
        }
    }
    state.used.insert(token.to_owned(), expires);
    state.sessions.insert(
        session.clone(),
        Session {
            user,
            expires_ms: now + SESSION_SECS * 1000,
            form_token,
        },
    );
    drop(state);
    let mut response = Response::new(Body::whole(Bytes::new()));
    *response.status_mut() = StatusCode::SEE_OTHER;
    let headers = response.headers_mut();
    headers.insert(LOCATION, HeaderValue::from_static(PATH));
    let cookie = format!(
        "{COOKIE_NAME}={session}; Path={PATH}; Max-Age={SESSION_SECS}; HttpOnly; SameSite=Strict{}",
        if pages.secure { "; Secure" } else { "" }
    );
    if let Ok(cookie) = HeaderValue::from_str(&cookie) {
        headers.insert(SET_COOKIE, cookie);
    }
    secure_headers(&mut response);
    response
}

/// The session a request's cookie names: its user and form token.
fn session_of(pages: &Pages, request: &Request<Incoming>) -> Option<(String, String)> {
    let id = request
        .headers()
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value.to_owned())?;
    let state = pages.state.lock().ok()?;
    let session = state.sessions.get(&id)?;
    (session.expires_ms > now_ms()).then(|| (session.user.clone(), session.form_token.clone()))
}

/// `application/x-www-form-urlencoded` fields (the last of a name wins).
fn urlencoded(body: &[u8]) -> HashMap<String, String> {
    let decode = |part: &str| -> String {
        let bytes = part.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' => {
                    let hex = part
                        .get(i + 1..i + 3)
                        .and_then(|h| u8::from_str_radix(h, 16).ok());
                    match hex {
                        Some(byte) => {
                            out.push(byte);
                            i += 2;
                        }
                        None => out.push(b'%'),
                    }
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

/// A field's values as strings (a text-multi is an array).
fn strings(answer: &Value, var: &str) -> Vec<String> {
    match answer.get("fields").and_then(|f| f.get(var)) {
        Some(Value::Array(values)) => values
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Some(Value::String(s)) if !s.is_empty() => vec![s.clone()],
        _ => Vec::new(),
    }
}

fn text(answer: &Value, var: &str) -> String {
    strings(answer, var).join("\n")
}

fn summary(answer: &Value, lang: Lang) -> String {
    answer
        .get("summary")
        .and_then(Value::as_str)
        .unwrap_or(page_text(lang, "Done."))
        .to_owned()
}

/// Text for HTML, escaped.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A whole page.
/// `browser`'s language for the page, from `Accept-Language` (its first choice).
fn browser_lang(request: &Request<Incoming>) -> Lang {
    request
        .headers()
        .get(ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map_or(Lang::En, |tag| {
            Lang::from_tag(tag.split(';').next().unwrap_or("").trim())
        })
}

fn page(lang: Lang, status: StatusCode, title: &str, body: &str) -> Response<Body> {
    let html = format!(
        "<!doctype html><html lang={lang}><head><meta charset=utf-8><meta name=viewport content=\"width=device-width, initial-scale=1\"><title>{t}</title><link rel=stylesheet href=\"{STYLE_PATH}\"></head><body><main><h1>{t}</h1>{body}</main></body></html>",
        t = esc(title),
        lang = lang.tag()
    );
    let mut response = Response::new(Body::whole(Bytes::from(html)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    secure_headers(&mut response);
    response
}

fn secure_headers(response: &mut Response<Body>) {
    let headers = response.headers_mut();
    headers.insert("content-security-policy", HeaderValue::from_static(CSP));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn form_fields_are_decoded_and_html_is_escaped() {
        let fields = urlencoded(b"form=ab12&status=Up+for+chess%21+%3Cb%3E&x=%zz");
        assert_eq!(fields["status"], "Up for chess! <b>");
        assert_eq!(fields["x"], "%zz");
        assert_eq!(esc("<b a=\"x\">&'"), "&lt;b a=&quot;x&quot;&gt;&amp;&#39;");
    }

    proptest! {
        #[test]
        fn any_body_is_read_without_panicking(body in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = urlencoded(&body);
        }

        #[test]
        fn escaped_text_has_no_markup(text in ".{0,100}") {
            let escaped = esc(&text);
            prop_assert!(!escaped.contains('<') && !escaped.contains('"'));
        }
    }
}
