//! A node's fields, declared once: each [`Spec`] names a field of its form or of its
//! answer (the `var`, which is also the compact answer's attribute), its type, its
//! label, whether it is required, its limit, and what it is for. The blank form, the
//! parser, the result's fields and columns and the compact attributes all read the
//! same declaration, so a field cannot be named two ways.

use crate::failure::Failure;
use crate::strings::{self, Lang};
use crate::xep::forms::{DataForm, Field, FieldType, FormType};

/// One field, as a node declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spec {
    /// The name it is submitted and read under; a compact answer's attribute.
    pub var: &'static str,
    /// What a person reads as its name.
    pub label: &'static str,
    pub kind: FieldType,
    /// Whether a request without it is refused.
    pub required: bool,
    /// Longest value, in characters, and whether line breaks are allowed (text fields
    /// a node reads with [`Spec::text`]).
    pub max_chars: Option<(usize, bool)>,
    /// What it is for, said when it is missing ("the user whose peers you want").
    pub purpose: Option<&'static str>,
}

impl Spec {
    pub const fn new(var: &'static str, label: &'static str, kind: FieldType) -> Spec {
        Spec {
            var,
            label,
            kind,
            required: false,
            max_chars: None,
            purpose: None,
        }
    }

    pub const fn jid(var: &'static str, label: &'static str) -> Spec {
        Spec::new(var, label, FieldType::JidSingle)
    }

    pub const fn text(var: &'static str, label: &'static str) -> Spec {
        Spec::new(var, label, FieldType::TextSingle)
    }

    #[must_use]
    pub const fn required(self) -> Spec {
        Spec {
            required: true,
            ..self
        }
    }

    /// At most `chars` characters; `lines`: line breaks allowed.
    #[must_use]
    pub const fn max(self, chars: usize, lines: bool) -> Spec {
        Spec {
            max_chars: Some((chars, lines)),
            ..self
        }
    }

    #[must_use]
    pub const fn purpose(self, purpose: &'static str) -> Spec {
        Spec {
            purpose: Some(purpose),
            ..self
        }
    }

    /// The field of a blank form.
    pub fn blank(&self) -> Field {
        Field {
            required: self.required,
            ..Field::typed(
                self.kind,
                Some(self.var.to_owned()),
                Some(self.label.to_owned()),
            )
        }
    }

    /// The refusal of a form without this field.
    pub fn missing(&self) -> Failure {
        Failure::bad_request(match self.purpose {
            Some(purpose) => format!("the form needs the field \"{}\": {purpose}", self.var),
            None => format!("the form needs the field \"{}\"", self.var),
        })
    }

    /// The field's first value, as sent.
    pub fn value<'f>(&self, form: &'f DataForm) -> Option<&'f str> {
        form.value(self.var)
    }

    /// The field's first value, which must be there.
    pub fn require<'f>(&self, form: &'f DataForm) -> Result<&'f str, Failure> {
        self.value(form).ok_or_else(|| self.missing())
    }

    /// Every value of the field.
    pub fn values<'f>(&self, form: &'f DataForm) -> &'f [String] {
        form.values(self.var)
    }

    /// The field's text within its limit ([`Spec::max`]): its values joined by line
    /// breaks, trimmed; `None` if absent or empty, a refusal if required.
    pub fn text_of(&self, form: &DataForm) -> Result<Option<String>, Failure> {
        let (max, lines) = self.max_chars.unwrap_or((usize::MAX, true));
        let text = text(form, self.var, max, lines)?;
        match text {
            None if self.required => Err(self.missing()),
            text => Ok(text),
        }
    }
}

/// The words of the forms users fill (titles, instructions, labels, choices) in `lang`:
/// the forms are written in English, and each of their texts found here is put in the
/// user's language ([`strings::FORM_TEXTS`]). A text not found stays as it is (names, lists made of the user's
/// own data).
pub fn in_lang(lang: Lang, mut form: DataForm) -> DataForm {
    if lang == Lang::En {
        return form;
    }
    let put = |text: &mut String| {
        if let Some(found) = strings::form_text(lang, text) {
            *text = found.to_owned();
        }
    };
    if let Some(title) = &mut form.title {
        put(title);
    }
    form.instructions.iter_mut().for_each(put);
    for field in &mut form.fields {
        if let Some(label) = &mut field.label {
            put(label);
        }
        for option in &mut field.options {
            if let Some(label) = &mut option.label {
                put(label);
            }
        }
    }
    form
}

/// A blank form of `form_type` asking for `fields`.
pub fn blank_form(form_type: &str, title: &str, instructions: &str, fields: &[Spec]) -> DataForm {
    let mut form = DataForm::new(FormType::Form, Some(form_type))
        .with_title(title)
        .with_instructions(instructions);
    for spec in fields {
        form.push_field(spec.blank());
    }
    form
}

/// The text of field `var`: trimmed, at most `max` characters, without control
/// characters (line breaks allowed where `lines`); `None` if absent or empty.
pub fn text(
    form: &DataForm,
    var: &str,
    max: usize,
    lines: bool,
) -> Result<Option<String>, Failure> {
    let Some(field) = form.field(var) else {
        return Ok(None);
    };
    let text = field.values.join("\n");
    if text.trim().is_empty() {
        return Ok(None);
    }
    check_text(&text, var, max, lines).map(Some)
}

/// `text` trimmed, if it is at most `max` characters without control characters (line
/// breaks allowed where `lines`); else a refusal naming the field `var`.
pub fn check_text(text: &str, var: &str, max: usize, lines: bool) -> Result<String, Failure> {
    let text = text.trim();
    let chars = text.chars().count();
    if chars > max {
        return Err(Failure::bad_request(format!(
            "the field \"{var}\" is {chars} characters long; at most {max} are allowed"
        )));
    }
    if text
        .chars()
        .any(|c| c.is_control() && !(lines && c == '\n'))
    {
        return Err(Failure::bad_request(format!(
            "the field \"{var}\" holds control characters"
        )));
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    /// Every text of every form users fill is in [`strings::FORM_TEXTS`], so each has its
    /// translations; the forms a French user gets are French.
    #[test]
    fn users_forms_are_in_their_language() {
        use crate::commands::{testkit::Bench, NODES};
        use crate::rights::{Access, Actor};
        let bench = Bench::new();
        let user = Actor::User(bench.user("bob"));
        let mut checked = 0;
        for def in NODES.iter().filter(|d| d.access == Access::User) {
            let Some(form) = (def.form)(&user, &bench.view()) else {
                continue;
            };
            let mut texts: Vec<&str> = form.title.iter().map(String::as_str).collect();
            texts.extend(form.instructions.iter().map(String::as_str));
            for field in &form.fields {
                texts.extend(field.label.as_deref());
                texts.extend(field.options.iter().filter_map(|o| o.label.as_deref()));
            }
            for text in texts {
                // The invitations form with nothing waiting says so in the user's words.
                if text == strings::waiting_list(Lang::En, &[]) {
                    continue;
                }
                assert!(
                    strings::form_text(Lang::Fr, text).is_some(),
                    "{}: {text:?} has no translations",
                    def.node
                );
                checked += 1;
            }
            let french = in_lang(Lang::Fr, form.clone());
            assert_ne!(french.title, form.title, "{}", def.node);
        }
        assert!(checked > 10, "{checked} texts checked");
        for row in strings::FORM_TEXTS {
            for text in row {
                assert!(!text.trim().is_empty(), "{row:?}");
            }
        }
    }

    /// The answers users get back carry their titles and labels in the user's language:
    /// each is in [`strings::FORM_TEXTS`].
    #[test]
    fn users_answers_are_in_their_language() {
        use crate::commands::testkit::Bench;
        use crate::commands::{
            invitations::Invitations, mute::Mute, my_status::MyStatus, privacy::Privacy,
        };
        use crate::rights::platforms::Shape;
        let mut bench = Bench::friends();
        let bob = bench.user("bob");
        let set = bench.run::<MyStatus>(&bob, &[("status", &["Up for chess"])]);
        bench.commit(&set);
        let runs = [
            ("privacy", bench.run::<Privacy>(&bob, &[])),
            (
                "privacy share",
                bench.run::<Privacy>(&bob, &[("share", &["all"])]),
            ),
            (
                "privacy history",
                bench.run::<Privacy>(&bob, &[("history", &["10"])]),
            ),
            ("invitations", bench.run::<Invitations>(&bob, &[])),
            ("my-status", bench.run::<MyStatus>(&bob, &[])),
            ("mute", bench.run::<Mute>(&bob, &[])),
        ];
        let mut missing = Vec::new();
        let mut checked = 0;
        for (what, ran) in &runs {
            let english = ran.reply(Shape::Form);
            let french = ran.reply_in(Shape::Form, Lang::Fr);
            let texts = |reply: &minidom::Element| -> Vec<String> {
                let mut texts = Vec::new();
                let mut stack = vec![reply.clone()];
                while let Some(el) = stack.pop() {
                    if el.name() == "title" {
                        texts.push(el.text());
                    }
                    if el.name() == "field" {
                        texts.extend(el.attr("label").map(str::to_owned));
                    }
                    stack.extend(el.children().cloned());
                }
                texts
            };
            for (en, fr) in texts(&english).into_iter().zip(texts(&french)) {
                checked += 1;
                if strings::form_text(Lang::Fr, &en) != Some(fr.as_str()) {
                    missing.push(format!("{what}: {en:?} (French: {fr:?})"));
                }
            }
        }
        assert!(
            missing.is_empty(),
            "not in the user's language: {missing:#?}"
        );
        assert!(checked > 5, "{checked} texts checked");
    }

    use super::*;

    const USER: Spec = Spec::jid("jid", "User")
        .required()
        .purpose("the user whose peers you want");
    const NOTE: Spec = Spec::text("text", "Text").max(5, false);

    fn submitted(fields: &[(&str, &str)]) -> DataForm {
        let mut form = DataForm::new(FormType::Submit, None);
        for (var, value) in fields {
            form.push_field(Field::value(*var, *value));
        }
        form
    }

    #[test]
    fn one_declaration_gives_the_blank_field_the_reading_and_the_refusal() {
        let blank = USER.blank();
        assert_eq!(blank, Field::jid_single("jid", "User").required());
        assert_eq!(USER.require(&submitted(&[("jid", "a@b")])).unwrap(), "a@b");
        assert_eq!(
            USER.require(&submitted(&[])).unwrap_err().text,
            "the form needs the field \"jid\": the user whose peers you want"
        );
        assert_eq!(NOTE.text_of(&submitted(&[])).unwrap(), None);
        assert_eq!(
            NOTE.text_of(&submitted(&[("text", " hi ")])).unwrap(),
            Some("hi".to_owned())
        );
        assert!(NOTE
            .text_of(&submitted(&[("text", "too long")]))
            .unwrap_err()
            .text
            .contains("at most 5"));
    }
}
