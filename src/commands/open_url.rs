//! `open-url`: a chat message offering the user a web page, as XEP-0066 out-of-band data
//! with a readable line of text (never a body that is only the URL: Conversations and
//! Gajim would show it as an attachment). Schemes: `rights.url_schemes` (https only by
//! default). Inputs: `jid`, `url`, and `text` (what the page is, optional).

use super::doc::Doc;
use super::execute::{self, deliver, platform_name, target, Input};
use super::fields::Spec;
use super::{Ctx, Flow, Node};
use crate::failure::Failure;
use crate::rights::uri::{self, UriUse};
use crate::rights::Platform;
use crate::rights::Right;
use crate::xep::forms::DataForm;

pub struct OpenUrl;

/// The page, and what it is.
const URL: Spec = Spec::text("url", "Page")
    .required()
    .max(execute::MAX_URI, false);
const TEXT: Spec = Spec::text("text", "Text").max(300, false);

pub struct OpenUrlQuery {
    input: Input,
    url: String,
    text: Option<String>,
}

impl TryFrom<&DataForm> for OpenUrlQuery {
    type Error = Failure;
    fn try_from(form: &DataForm) -> Result<OpenUrlQuery, Failure> {
        Ok(OpenUrlQuery {
            input: Input::read(form)?,
            url: URL.text_of(form)?.unwrap_or_default(),
            text: TEXT.text_of(form)?,
        })
    }
}

impl Node for OpenUrl {
    const NODE: &'static str = "open-url";
    const NAME: &'static str = "Offer a user a web page";
    type Caller = Platform;
    const RIGHT: Option<Right> = Some(Right::OpenUrl);
    type Query = OpenUrlQuery;
    const DOC: Option<Doc> = Some(Doc {
        about: "Offers a user a web page in their chat client.",
        input: &[execute::USER, URL, TEXT],
        answer: execute::ANSWER,
    });

    fn run(query: OpenUrlQuery, ctx: &mut Ctx<'_, Platform>) -> Result<Flow<Platform>, Failure> {
        let pages = &ctx.settings.url_schemes;
        uri::check(&query.url, "url", UriUse::Page { pages })?;
        let target = target(ctx, &query.input, Right::OpenUrl)?;
        deliver(ctx, target, Right::OpenUrl, |ctx, to| {
            let name = platform_name(ctx);
            let lang = ctx.directory.lang(to.as_str());
            let body = crate::strings::suggests_page(lang, name, query.text.as_deref(), &query.url);
            execute::message(
                ctx,
                to,
                "chat",
                &body,
                vec![execute::oob(&query.url, query.text.as_deref())],
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::testkit::{jid, Bench};
    use crate::directory::presence::Availability;

    #[test]
    fn sends_the_page_to_an_online_user_and_refuses_a_script() {
        let mut bench = Bench::new();
        bench.online("bob", Availability::Chat, None);
        let game = bench.platform();
        let page = "https://play.example.test/r/1";
        let ran = bench.run::<OpenUrl>(&game, &[("jid", &[&jid("bob")]), ("url", &[page])]);
        assert_eq!(ran.field("result"), ["delivered"]);
        let sent = ran.sent();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].attr("to"), Some(&*jid("bob")));
        assert!(String::from(&sent[0]).contains(page));
        let script = bench.run::<OpenUrl>(
            &game,
            &[("jid", &[&jid("bob")]), ("url", &["javascript:alert(1)"])],
        );
        assert_eq!(
            script.failure().text,
            "the field \"url\" is a javascript URI, which is never sent to users"
        );
        assert!(script.sent().is_empty());
    }
}
