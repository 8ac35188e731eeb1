//! What each platform command reads and answers, declared beside it ([`Doc`]) from the
//! same [`Spec`]s its form and its answer use, and the two documents made of them: the
//! OpenAPI 3.1 description of the HTTP front door ([`openapi`]) and the reference of the
//! data forms for XMPP platforms ([`forms_reference`]), in the style of a XEP-0068
//! registration.
//!
//! Both are kept in the repository (`docs/openapi.json`, `docs/forms.md`); a test
//! holds them to what the code makes (`DOCS_UPDATE=1 cargo test --lib documents` writes
//! them again). The bridge serves the first at [`OPENAPI_PATH`].

use serde_json::{json, Map, Value};

use super::fields::Spec;
use super::NodeDef;
use crate::rights::Access;
use crate::xep::forms::FieldType;

/// Where the HTTP front door takes commands: `POST /v1/<node>`.
pub const COMMANDS_PATH: &str = "/v1/";
/// Where it serves the event stream.
pub const EVENTS_PATH: &str = "/v1/events";
/// Where it serves its OpenAPI document.
pub const OPENAPI_PATH: &str = "/v1/openapi.json";

/// The forms of the news a platform receives (as messages over XMPP, as events over
/// HTTP).
pub const NEWS_FORMS: &[FormDoc] = &[
    FormDoc {
        about: "News of an invite: an invitee's answer, or a change of state, and the outcome. Sent to the platform that made the invite (over HTTP: its webhook and event stream, event type `invite`).",
        form: AnswerDoc {
            form_type: crate::invites::messages::FORM_TYPE,
            title: "Invite news",
            fields: &[
                Spec::text("invite", "Invite"),
                Spec::text("session", "Session"),
                Spec::jid("host", "Host"),
                Spec::jid("invitee", "Invitee").purpose("with an answer"),
                Spec::text("answer", "Answer").purpose("accepted, declined, expired, cancelled or closed"),
                Spec::text("how", "Answered through").purpose("chat, platform or merge, where known"),
                Spec::text("outcome", "Outcome"),
                Spec::text("state", "State").purpose("with a change of state"),
            ],
            columns: &[],
        },
    },
    FormDoc {
        about: "A user's answer to a consent request, or its expiry. Sent to the platform that asked (over HTTP: event type `consent`).",
        form: AnswerDoc {
            form_type: crate::prompts::CONSENT_FORM_TYPE,
            title: "Consent answer",
            fields: &[
                Spec::text("prompt", "Request id"),
                Spec::jid("jid", "User"),
                Spec::text("answer", "Answer").purpose("yes, no or expired"),
            ],
            columns: &[],
        },
    },
];

/// A command's declaration for its documentation.
#[derive(Debug, Clone, Copy)]
pub struct Doc {
    /// What it does, in a sentence or two.
    pub about: &'static str,
    /// The fields of its form.
    pub input: &'static [Spec],
    /// Its answer.
    pub answer: AnswerDoc,
}

/// An answer's form: its FORM_TYPE and title, its fields, its table's columns.
#[derive(Debug, Clone, Copy)]
pub struct AnswerDoc {
    pub form_type: &'static str,
    pub title: &'static str,
    pub fields: &'static [Spec],
    pub columns: &'static [Spec],
}

/// A form that is not a command's answer (news, prompts), for the forms reference.
#[derive(Debug, Clone, Copy)]
pub struct FormDoc {
    pub about: &'static str,
    pub form: AnswerDoc,
}

/// The nodes a platform reaches over HTTP: those a platform may run.
pub fn platform_nodes() -> impl Iterator<Item = (&'static NodeDef, &'static Doc)> {
    super::NODES.iter().filter_map(|def| {
        let platform = matches!(def.access, Access::Platform | Access::UserOrPlatform);
        Some(def).filter(|_| platform).zip(def.doc.as_ref())
    })
}

/// The JSON Schema of a field's value.
fn schema(spec: &Spec) -> Value {
    let mut schema = match spec.kind {
        FieldType::Boolean => json!({"type": "boolean"}),
        FieldType::JidMulti | FieldType::ListMulti | FieldType::TextMulti => {
            json!({"type": "array", "items": {"type": "string"}})
        }
        _ => json!({"type": "string"}),
    };
    let description = match spec.purpose {
        Some(purpose) => format!("{}: {purpose}", spec.label),
        None => spec.label.to_owned(),
    };
    schema["description"] = json!(description);
    if let (Some((max, _)), "string") = (spec.max_chars, schema["type"].as_str().unwrap_or("")) {
        schema["maxLength"] = json!(max);
    }
    schema
}

/// The schema of an object with these fields as members.
fn object(specs: &[Spec], required: bool) -> Value {
    let mut properties = Map::new();
    for spec in specs {
        properties.insert(spec.var.to_owned(), schema(spec));
    }
    let mut object = json!({"type": "object", "properties": properties});
    if required {
        let names: Vec<&str> = specs.iter().filter(|s| s.required).map(|s| s.var).collect();
        if !names.is_empty() {
            object["required"] = json!(names);
        }
    }
    object
}

/// The schema of a request body: the form's fields, numbers allowed for text (they are
/// read as their decimal text).
fn request_schema(doc: &Doc) -> Value {
    let mut body = object(doc.input, true);
    if let Some(properties) = body["properties"].as_object_mut() {
        for (_, property) in properties.iter_mut() {
            if property["type"] == "string" {
                property["type"] = json!(["string", "number"]);
                if let Some(object) = property.as_object_mut() {
                    object.remove("maxLength");
                }
            }
        }
    }
    body
}

/// The schema of an answer (see [`super::render::json`]).
fn answer_schema(node: &str, answer: &AnswerDoc) -> Value {
    json!({
        "type": "object",
        "required": ["node", "summary", "fields", "items", "notes", "left_out"],
        "properties": {
            "node": {"const": node},
            "form_type": {"const": answer.form_type},
            "title": {"type": "string"},
            "summary": {"type": "string", "description": "The answer in a sentence or two"},
            "fields": object(answer.fields, false),
            "items": {"type": "array", "items": object(answer.columns, false)},
            "notes": {"type": "array", "items": {"$ref": "#/components/schemas/Note"}},
            "left_out": {"type": "integer", "minimum": 0, "description": "Rows left out to keep the answer within the size limit"}
        }
    })
}

/// The OpenAPI 3.1 description of the HTTP front door.
pub fn openapi() -> Value {
    let mut paths = Map::new();
    let problem = json!({"description": "Refused: a problem document with the same text an XMPP error carries",
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}});
    for (def, doc) in platform_nodes() {
        let mut description = doc.about.to_owned();
        if let Some(right) = def.right {
            description.push_str(&format!(" Needs the right `{}`.", right.as_str()));
        }
        paths.insert(
            format!("{}{}", COMMANDS_PATH, def.node),
            json!({"post": {
                "operationId": def.node,
                "summary": def.name,
                "description": description,
                "requestBody": {"required": false, "content": {"application/json": {"schema": request_schema(doc)}}},
                "responses": {
                    "200": {"description": doc.answer.title,
                        "content": {"application/json": {"schema": answer_schema(def.node, &doc.answer)}}},
                    "default": problem.clone()
                }
            }}),
        );
    }
    paths.insert(
        EVENTS_PATH.to_owned(),
        json!({"get": {
            "operationId": "events",
            "summary": "The platform's news as Server-Sent Events",
            "description": "Answers and outcomes of what the platform started over HTTP, as events (`id`, `event`: the type, `data`: the event's JSON, as a webhook receives it). Without Last-Event-ID the stream starts with what comes next.",
            "parameters": [{"name": "Last-Event-ID", "in": "header", "required": false,
                "schema": {"type": "string", "pattern": "^[0-9]+$"},
                "description": "Resume after this event"}],
            "responses": {
                "200": {"description": "The stream", "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                "default": problem.clone()
            }
        }}),
    );
    paths.insert(
        OPENAPI_PATH.to_owned(),
        json!({"get": {
            "operationId": "openapi",
            "summary": "This document",
            "security": [],
            "responses": {"200": {"description": "The OpenAPI document",
                "content": {"application/json": {"schema": {"type": "object"}}}}}
        }}),
    );
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "xmpp-game-bridge",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The HTTP front door of xmpp-game-bridge: every platform command of its XMPP ad-hoc commands as POST /v1/<command> with a JSON object of the command's fields, answered with the command's result form as JSON. Refusals are problem details (RFC 9457) with the XMPP error's text. News of what a platform started over HTTP (invite answers and outcomes, consent answers) reach its webhook, signed as Standard Webhooks has it, and its event stream.",
            "license": {"name": "MPL-2.0", "identifier": "MPL-2.0"}
        },
        "servers": [{"url": "/"}],
        "security": [{"token": []}],
        "paths": paths,
        "webhooks": {
            "news": {"post": {
                "summary": "An event of the platform's news",
                "description": "Signed: webhook-id (the event's id), webhook-timestamp, webhook-signature (v1,<base64 HMAC-SHA256 of `<id>.<timestamp>.<body>` keyed with the secret's bytes). Answer 2xx to take it; anything else is tried again.",
                "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Event"}}}},
                "responses": {"2XX": {"description": "Taken"}}
            }}
        },
        "components": {
            "securitySchemes": {"token": {"type": "http", "scheme": "bearer",
                "description": "A platform token from `xmpp-game-bridge platform new-token`"}},
            "schemas": {
                "Problem": {"type": "object", "required": ["type", "title", "status", "detail", "condition"],
                    "properties": {
                        "type": {"type": "string"},
                        "title": {"type": "string"},
                        "status": {"type": "integer"},
                        "detail": {"type": "string"},
                        "condition": {"type": "string", "description": "The XMPP error condition (RFC 6120 §8.3.3)"}
                    }},
                "Note": {"type": "object", "required": ["type", "text"],
                    "properties": {"type": {"enum": ["info", "warn", "error"]}, "text": {"type": "string"}}},
                "Event": {"type": "object", "required": ["id", "at", "type", "form_type", "thread", "summary", "fields"],
                    "properties": {
                        "id": {"type": "string", "description": "The outbox's id: the same in every delivery of the event"},
                        "at": {"type": "string", "format": "date-time"},
                        "type": {"enum": ["invite", "consent"]},
                        "form_type": {"type": "string"},
                        "thread": {"type": "string", "description": "The invite or request it belongs to; one thread's events come in order"},
                        "summary": {"type": "string"},
                        "fields": {"type": "object"}
                    }}
            }
        }
    })
}

/// The forms reference, as Markdown.
pub fn forms_reference() -> String {
    let mut out = String::from(
        "# Data forms of xmpp-game-bridge\n\n\
         Every form a platform sends or reads, field by field, in the manner of a XEP-0068\n\
         FORM_TYPE registration. Over XMPP these are the XEP-0004 forms of the ad-hoc commands\n\
         (XEP-0050) and of the news messages; over HTTP the same fields are the members of the\n\
         JSON objects (`docs/openapi.json`). Made from the commands' declarations (written\n\
         again by `DOCS_UPDATE=1 cargo test --lib documents`); do not edit by hand.\n",
    );
    let mut seen: Vec<&str> = Vec::new();
    for (def, doc) in platform_nodes() {
        out.push_str(&format!(
            "\n## Command `{}`: {}\n\n{}\n",
            def.node, def.name, doc.about
        ));
        if let Some(right) = def.right {
            out.push_str(&format!("\nNeeds the right `{}`.\n", right.as_str()));
        }
        if !doc.input.is_empty() {
            out.push_str("\nSubmitted fields:\n\n");
            table(&mut out, doc.input, true);
        }
        if seen.contains(&doc.answer.form_type) {
            out.push_str(&format!(
                "\nAnswer: `{}`, registered above.\n",
                doc.answer.form_type
            ));
            continue;
        }
        seen.push(doc.answer.form_type);
        registration(&mut out, &doc.answer, "the answer");
    }
    for form in NEWS_FORMS {
        out.push_str(&format!("\n## {}\n\n{}\n", form.form.title, form.about));
        registration(&mut out, &form.form, "the form");
    }
    out
}

fn registration(out: &mut String, form: &AnswerDoc, what: &str) {
    out.push_str(&format!(
        "\n```xml\n<form_type>\n  <name>{}</name>\n  <doc>xmpp-game-bridge: {}</doc>\n  <desc>{} ({what})</desc>\n</form_type>\n```\n",
        form.form_type, "docs/forms.md", form.title
    ));
    if !form.fields.is_empty() {
        out.push_str("\nFields:\n\n");
        table(out, form.fields, false);
    }
    if !form.columns.is_empty() {
        out.push_str("\nTable columns (one `<item/>` per row; `items` in JSON):\n\n");
        table(out, form.columns, false);
    }
}

fn table(out: &mut String, specs: &[Spec], input: bool) {
    if input {
        out.push_str("| var | type | required | label | notes |\n|---|---|---|---|---|\n");
    } else {
        out.push_str("| var | type | label | notes |\n|---|---|---|---|\n");
    }
    for spec in specs {
        let mut notes = spec.purpose.unwrap_or("").to_owned();
        if let Some((max, lines)) = spec.max_chars {
            if !notes.is_empty() {
                notes.push_str("; ");
            }
            notes.push_str(&format!(
                "at most {max} characters{}",
                if lines { "" } else { ", one line" }
            ));
        }
        if input {
            out.push_str(&format!(
                "| `{}` | {} | {} | {} | {} |\n",
                spec.var,
                spec.kind.as_str(),
                if spec.required { "yes" } else { "no" },
                spec.label,
                notes
            ));
        } else {
            out.push_str(&format!(
                "| `{}` | {} | {} | {} |\n",
                spec.var,
                spec.kind.as_str(),
                spec.label,
                notes
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_a_platform_may_run_is_documented() {
        for def in crate::commands::NODES {
            let platform = matches!(def.access, Access::Platform | Access::UserOrPlatform);
            assert_eq!(platform, def.doc.is_some(), "{}", def.node);
        }
        let nodes: Vec<&str> = platform_nodes().map(|(def, _)| def.node).collect();
        for node in [
            "peers",
            "status",
            "open-url",
            "send-message",
            "set-status",
            "attention",
            "launch",
            "publish-gaming",
            "request-consent",
            "invite",
            "invite-status",
            "invite-cancel",
            "pending",
            "answer",
            "session-started",
            "session-ended",
        ] {
            assert!(nodes.contains(&node), "{node} is missing from {nodes:?}");
        }
    }

    #[test]
    fn the_news_forms_declare_what_the_messages_carry() {
        use crate::store::{InviteRecord, PromptRecord};
        let invite = InviteRecord {
            id: "7".into(),
            platform: "arcade@example.test".into(),
            notify: "arcade@example.test/engine".into(),
            host: "alice@example.test".into(),
            game: "Chess".into(),
            session: "s".into(),
            join_uri: None,
            max_players: None,
            sent: 1,
            created_at: 0,
            expires_at: 60,
            state: crate::store::InviteState::Open,
            changed_at: 0,
        };
        let news = crate::invites::messages::to_platform(
            "game.example.test",
            &invite,
            Some((
                "bob@example.test",
                crate::invites::Answer::Accepted,
                Some("chat"),
            )),
            crate::invites::Outcome::Ready,
            Some("started"),
        );
        let prompt = PromptRecord::new(
            "p1".into(),
            "consent",
            "alice@example.test".into(),
            "arcade@example.test".into(),
            "arcade@example.test/engine".into(),
            0,
            60,
        );
        let consent = crate::commands::answer::answer_message("game.example.test", &prompt, "yes");
        for (message, form) in [(news, &NEWS_FORMS[0]), (consent, &NEWS_FORMS[1])] {
            let x = message.get_child("x", "jabber:x:data").unwrap();
            let vars: Vec<&str> = form.form.fields.iter().map(|s| s.var).collect();
            for field in x.children().filter_map(|f| f.attr("var")) {
                if field == "FORM_TYPE" {
                    continue;
                }
                assert!(
                    vars.contains(&field),
                    "{} carries {field}",
                    form.form.form_type
                );
            }
            let form_type = x
                .children()
                .find(|f| f.attr("var") == Some("FORM_TYPE"))
                .map(|f| f.children().map(|v| v.text()).collect::<String>());
            assert_eq!(form_type.as_deref(), Some(form.form.form_type));
        }
    }

    #[test]
    fn the_documents_in_the_repository_are_what_the_code_makes() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
        let openapi = serde_json::to_string_pretty(&openapi()).unwrap() + "\n";
        let forms = forms_reference();
        if std::env::var_os("DOCS_UPDATE").is_some() {
            std::fs::write(dir.join("openapi.json"), &openapi).unwrap();
            std::fs::write(dir.join("forms.md"), &forms).unwrap();
        }
        for (name, made) in [("openapi.json", openapi), ("forms.md", forms)] {
            let kept = std::fs::read_to_string(dir.join(name)).unwrap_or_default();
            assert!(kept == made, "docs/{name} is not what the code makes: run DOCS_UPDATE=1 cargo test --lib documents");
        }
    }
}
