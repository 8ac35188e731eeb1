//! XEP-0050: Ad-Hoc Commands (version 1.2), the `<command/>` payload.
//!
//! Implements the formal description of §4: the `<command/>` element of §4.1
//! (`node`, `sessionid`, `action`, `status`, `xml:lang`), `<actions/>` (§4.2),
//! `<note/>` (§4.3) and the application-specific error conditions of §4.4. The
//! exchanges of §2.4 (execution, multiple stages, cancelling) are the test samples.
//!
//! A `jabber:x:data` payload is parsed as a [`DataForm`]; other payloads, such as
//! `jabber:x:oob`, are skipped, since this component neither sends nor reads
//! them. An `action` this module does not know is its own error,
//! [`CommandError::MalformedAction`], so that the caller can answer with the
//! `<malformed-action/>` condition §4.4 asks for.

use std::fmt;
use std::str::FromStr;

use minidom::rxml::{xml_ncname, Namespace};

use super::with_attr;
use minidom::Element;

use super::forms::{self, DataForm};

/// The namespace of ad-hoc commands (§4).
pub const NS: &str = "http://jabber.org/protocol/commands";

/// The service discovery node whose `disco#items` lists the commands (§2.2).
pub const NODE: &str = NS;

/// Why an element is not a usable `<command/>`.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum CommandError {
    /// The element is not `<command/>` in [`NS`].
    #[error("expected <command xmlns='http://jabber.org/protocol/commands'/>")]
    WrongElement,
    /// `<command/>` has no `node`, which §4.1 requires.
    #[error("<command/> has no 'node' attribute")]
    MissingNode,
    /// The `action` attribute is not one of §4.1's; answer `<malformed-action/>`.
    #[error("unknown command action '{0}'")]
    MalformedAction(String),
    /// The `status` attribute is not one of §4.1's.
    #[error("unknown command status '{0}'")]
    UnknownStatus(String),
    /// `<actions/>` names something that is not an action, or offers `execute`
    /// or `cancel` as a child, which §4.2 does not allow.
    #[error("invalid action '{0}' in <actions/>")]
    BadActions(String),
    /// More than one `<actions/>`.
    #[error("more than one <actions/> in <command/>")]
    DuplicateActions,
    /// A `<note/>` whose `type` is not one of §4.3's.
    #[error("unknown note type '{0}'")]
    UnknownNoteType(String),
    /// An element in [`NS`] that §4 does not allow inside `<command/>`.
    #[error("<{0}/> is not allowed in <command/>")]
    UnknownChild(String),
    /// The payload cannot be used: an invalid data form, or more than one.
    #[error("invalid command payload: {0}")]
    BadPayload(String),
}

impl CommandError {
    /// The §4.4 condition that should accompany `bad-request` when this error
    /// is answered, if there is one.
    pub fn condition(&self) -> Option<SpecificCondition> {
        match self {
            CommandError::MalformedAction(_) => Some(SpecificCondition::MalformedAction),
            CommandError::BadPayload(_) => Some(SpecificCondition::BadPayload),
            _ => None,
        }
    }
}

/// What the requester asks of a command session (§4.1 `action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Run, or continue with the stage's default; what no `action` means.
    Execute,
    /// End the session.
    Cancel,
    /// Return to the previous stage.
    Prev,
    /// Go on to the next stage.
    Next,
    /// Finish with what has been given.
    Complete,
}

impl Action {
    /// The attribute value and, for `prev`/`next`/`complete`, the `<actions/>`
    /// child name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Execute => "execute",
            Action::Cancel => "cancel",
            Action::Prev => "prev",
            Action::Next => "next",
            Action::Complete => "complete",
        }
    }

    /// Whether §4.2 lets `<actions/>` list this action as a child.
    fn may_be_offered(self) -> bool {
        matches!(self, Action::Prev | Action::Next | Action::Complete)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Action {
    type Err = CommandError;

    fn from_str(s: &str) -> Result<Self, CommandError> {
        Ok(match s {
            "execute" => Action::Execute,
            "cancel" => Action::Cancel,
            "prev" => Action::Prev,
            "next" => Action::Next,
            "complete" => Action::Complete,
            other => return Err(CommandError::MalformedAction(other.to_owned())),
        })
    }
}

/// Where a command session stands (§4.1 `status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Waiting for the requester's next step.
    Executing,
    /// Finished; the session has ended.
    Completed,
    /// Cancelled; the session has ended.
    Canceled,
}

impl Status {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Executing => "executing",
            Status::Completed => "completed",
            Status::Canceled => "canceled",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = CommandError;

    fn from_str(s: &str) -> Result<Self, CommandError> {
        Ok(match s {
            "executing" => Status::Executing,
            "completed" => Status::Completed,
            "canceled" => Status::Canceled,
            other => return Err(CommandError::UnknownStatus(other.to_owned())),
        })
    }
}

/// The actions a stage offers (§4.2), e.g. `<actions execute='next'><prev/><next/></actions>`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Actions {
    /// What `execute` stands for at this stage: the default button.
    pub execute: Option<Action>,
    /// The offered actions, in document order; only `prev`, `next` and `complete`
    /// are meaningful, as `execute` and `cancel` are always allowed (§3.4).
    pub allowed: Vec<Action>,
}

impl Actions {
    /// Offers `allowed`, with `execute` as the default if given. `execute` and
    /// `cancel` in `allowed` are dropped, as they are always allowed.
    pub fn new(execute: Option<Action>, allowed: impl IntoIterator<Item = Action>) -> Actions {
        Actions {
            execute,
            allowed: allowed
                .into_iter()
                .filter(|action| action.may_be_offered())
                .collect(),
        }
    }
}

impl TryFrom<&Element> for Actions {
    type Error = CommandError;

    fn try_from(elem: &Element) -> Result<Actions, CommandError> {
        let execute = match elem.attr("execute") {
            Some(value) => Some(
                value
                    .parse()
                    .map_err(|_| CommandError::BadActions(value.to_owned()))?,
            ),
            None => None,
        };
        let mut allowed = Vec::new();
        for child in elem.children().filter(|child| child.has_ns(NS)) {
            match child.name().parse::<Action>() {
                Ok(action) if action.may_be_offered() => allowed.push(action),
                _ => return Err(CommandError::BadActions(child.name().to_owned())),
            }
        }
        Ok(Actions { execute, allowed })
    }
}

impl From<Actions> for Element {
    fn from(actions: Actions) -> Element {
        let builder = Element::builder("actions", NS);
        with_attr(
            builder,
            xml_ncname!("execute"),
            actions.execute.map(Action::as_str),
        )
        .append_all(
            actions
                .allowed
                .into_iter()
                // §4.2 allows no other children; they would only repeat
                // what is always allowed.
                .filter(|action| action.may_be_offered())
                .map(|action| Element::bare(action.as_str(), NS)),
        )
        .build()
    }
}

/// How serious a note is (§4.3 `type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum NoteType {
    /// Information; what a note without `type` is.
    #[default]
    Info,
    /// A warning, e.g. about odd but valid input.
    Warn,
    /// Why the command failed; §3.6 requires one on a failed completion.
    Error,
}

impl NoteType {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            NoteType::Info => "info",
            NoteType::Warn => "warn",
            NoteType::Error => "error",
        }
    }
}

impl FromStr for NoteType {
    type Err = CommandError;

    fn from_str(s: &str) -> Result<Self, CommandError> {
        Ok(match s {
            "info" => NoteType::Info,
            "warn" => NoteType::Warn,
            "error" => NoteType::Error,
            other => return Err(CommandError::UnknownNoteType(other.to_owned())),
        })
    }
}

/// A human-readable `<note/>` about the command's state (§4.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// How serious it is.
    pub type_: NoteType,
    /// The message for the user.
    pub text: String,
}

impl TryFrom<&Element> for Note {
    type Error = CommandError;

    fn try_from(elem: &Element) -> Result<Note, CommandError> {
        Ok(Note {
            type_: elem
                .attr("type")
                .map(str::parse)
                .transpose()?
                .unwrap_or_default(),
            text: elem.text(),
        })
    }
}

impl From<Note> for Element {
    fn from(note: Note) -> Element {
        // `type` is written even for `info`: the §8 schema marks it required.
        let builder = with_attr(
            Element::builder("note", NS),
            xml_ncname!("type"),
            Some(note.type_.as_str()),
        );
        if note.text.is_empty() {
            builder.build()
        } else {
            builder.append(note.text).build()
        }
    }
}

/// A `<command/>` request or response (§4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// Which command, as listed under [`NODE`].
    pub node: String,
    /// The session, once the responder has opened one.
    pub sessionid: Option<String>,
    /// What the requester asks for; `None` means [`Action::Execute`].
    pub action: Option<Action>,
    /// Where the session stands; set by the responder only.
    pub status: Option<Status>,
    /// What the next stage may do.
    pub actions: Option<Actions>,
    /// Messages for the user.
    pub notes: Vec<Note>,
    /// The form to fill in, the submitted data, or the result.
    pub form: Option<DataForm>,
    /// The `xml:lang` of the command, if it carries its own.
    pub lang: Option<String>,
}

impl Command {
    /// A request to start `node`: `<command node action='execute'/>`.
    pub fn request(node: impl Into<String>) -> Command {
        Command {
            node: node.into(),
            sessionid: None,
            action: Some(Action::Execute),
            status: None,
            actions: None,
            notes: Vec::new(),
            form: None,
            lang: None,
        }
    }

    /// A response in session `sessionid` of `node`.
    pub fn response(
        node: impl Into<String>,
        sessionid: impl Into<String>,
        status: Status,
    ) -> Command {
        Command {
            node: node.into(),
            sessionid: Some(sessionid.into()),
            action: None,
            status: Some(status),
            actions: None,
            notes: Vec::new(),
            form: None,
            lang: None,
        }
    }

    /// Sets the session.
    #[must_use]
    pub fn with_sessionid(mut self, sessionid: impl Into<String>) -> Command {
        self.sessionid = Some(sessionid.into());
        self
    }

    /// Sets the data form.
    #[must_use]
    pub fn with_form(mut self, form: DataForm) -> Command {
        self.form = Some(form);
        self
    }

    /// Adds a note after the existing ones.
    #[must_use]
    pub fn with_note(mut self, type_: NoteType, text: impl Into<String>) -> Command {
        self.notes.push(Note {
            type_,
            text: text.into(),
        });
        self
    }

    /// Sets the offered actions.
    #[must_use]
    pub fn with_actions(mut self, actions: Actions) -> Command {
        self.actions = Some(actions);
        self
    }

    /// Sets `xml:lang`.
    #[must_use]
    pub fn with_lang(mut self, lang: impl Into<String>) -> Command {
        self.lang = Some(lang.into());
        self
    }

    /// The requested action, `execute` when none is given (§4.1).
    pub fn action_or_default(&self) -> Action {
        self.action.unwrap_or(Action::Execute)
    }
}

impl TryFrom<&Element> for Command {
    type Error = CommandError;

    fn try_from(elem: &Element) -> Result<Command, CommandError> {
        if !elem.is("command", NS) {
            return Err(CommandError::WrongElement);
        }
        let node = elem.attr("node").ok_or(CommandError::MissingNode)?;
        let mut command = Command {
            node: node.to_owned(),
            sessionid: elem.attr("sessionid").map(str::to_owned),
            action: elem.attr("action").map(str::parse).transpose()?,
            status: elem.attr("status").map(str::parse).transpose()?,
            actions: None,
            notes: Vec::new(),
            form: None,
            // minidom keeps `xml:lang` as `lang` in the XML namespace, so
            // `attr("xml:lang")` would never find it.
            lang: elem.attr_ns(Namespace::xml(), "lang").map(str::to_owned),
        };
        for child in elem.children() {
            if child.has_ns(forms::NS) {
                // One form is all a stage can be driven by; with two, which one
                // counts would be a guess.
                if command.form.is_some() {
                    return Err(CommandError::BadPayload(
                        "more than one data form".to_owned(),
                    ));
                }
                let form = DataForm::try_from(child)
                    .map_err(|err| CommandError::BadPayload(err.to_string()))?;
                command.form = Some(form);
            } else if child.has_ns(NS) {
                match child.name() {
                    "actions" => {
                        if command.actions.is_some() {
                            return Err(CommandError::DuplicateActions);
                        }
                        command.actions = Some(Actions::try_from(child)?);
                    }
                    "note" => command.notes.push(Note::try_from(child)?),
                    other => return Err(CommandError::UnknownChild(other.to_owned())),
                }
            }
        }
        Ok(command)
    }
}

impl TryFrom<Element> for Command {
    type Error = CommandError;

    fn try_from(elem: Element) -> Result<Command, CommandError> {
        Command::try_from(&elem)
    }
}

impl From<Command> for Element {
    fn from(command: Command) -> Element {
        let builder = Element::builder("command", NS);
        let builder = with_attr(builder, xml_ncname!("node"), Some(command.node));
        let builder = with_attr(builder, xml_ncname!("sessionid"), command.sessionid);
        let builder = with_attr(
            builder,
            xml_ncname!("action"),
            command.action.map(Action::as_str),
        );
        let builder = with_attr(
            builder,
            xml_ncname!("status"),
            command.status.map(Status::as_str),
        );
        let builder = match command.lang {
            Some(lang) => builder.attr_ns(Namespace::XML, xml_ncname!("lang").into(), lang),
            None => builder,
        };
        // Notes ahead of the form, so that a client rendering children in order
        // shows why a stage is repeated before the form to fix.
        builder
            .append_all(command.actions.map(Element::from))
            .append_all(command.notes.into_iter().map(Element::from))
            .append_all(command.form.map(Element::from))
            .build()
    }
}

/// The application-specific error conditions of §4.4, in [`NS`]. Each goes in a
/// stanza `<error/>` next to its general condition: `bad-request` (type `modify`)
/// for all but [`SpecificCondition::SessionExpired`], which goes with
/// `not-allowed` (type `cancel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpecificCondition {
    /// The `action` is not understood.
    MalformedAction,
    /// The `action` is understood but not allowed at this stage.
    BadAction,
    /// The requested `xml:lang` cannot be served.
    BadLocale,
    /// The payload is unusable, e.g. a required field is missing.
    BadPayload,
    /// The `sessionid` is not one the responder knows.
    BadSessionid,
    /// The session has completed, been cancelled or timed out.
    SessionExpired,
}

impl SpecificCondition {
    /// The element's local name.
    pub fn as_str(&self) -> &'static str {
        match self {
            SpecificCondition::MalformedAction => "malformed-action",
            SpecificCondition::BadAction => "bad-action",
            SpecificCondition::BadLocale => "bad-locale",
            SpecificCondition::BadPayload => "bad-payload",
            SpecificCondition::BadSessionid => "bad-sessionid",
            SpecificCondition::SessionExpired => "session-expired",
        }
    }

    /// The empty element, e.g. `<bad-sessionid xmlns='http://jabber.org/protocol/commands'/>`.
    pub fn to_element(&self) -> Element {
        Element::bare(self.as_str(), NS)
    }
}

impl From<SpecificCondition> for Element {
    fn from(condition: SpecificCondition) -> Element {
        condition.to_element()
    }
}

#[cfg(test)]
mod tests {
    use super::forms::{Field, FieldOption, FieldType, FormType};
    use super::*;
    use crate::xep::samples::xml;

    /// Parses `sample`, serialises the result and checks it is the same element.
    fn round_trip(sample: &str) -> Command {
        let elem = xml(sample);
        let command = Command::try_from(&elem).unwrap();
        assert_eq!(Element::from(command.clone()), elem);
        command
    }

    fn parse_err(sample: &str) -> CommandError {
        Command::try_from(xml(sample)).unwrap_err()
    }

    // §2.4.1, "Execute command request".
    #[test]
    fn execute_request_round_trips() {
        let command = round_trip(
            r#"
  <command xmlns='http://jabber.org/protocol/commands'
           node='list'
           action='execute'/>"#,
        );
        assert_eq!(command, Command::request("list"));
    }

    #[test]
    fn request_without_action_means_execute() {
        let command =
            round_trip("<command xmlns='http://jabber.org/protocol/commands' node='stats'/>");
        assert_eq!(command.action, None);
        assert_eq!(command.action_or_default(), Action::Execute);
    }

    // §2.4.1, "Execute command result": completed at once with a table.
    #[test]
    fn completed_result_with_table_round_trips() {
        let command = round_trip(
            r#"
  <command xmlns='http://jabber.org/protocol/commands'
           sessionid='list:20020923T213616Z-700'
           node='list'
           status='completed'>
    <x xmlns='jabber:x:data' type='result'>
      <title>Available Services</title>
      <reported>
        <field var='service' label='Service'/>
        <field var='runlevel-1' label='Single-User mode'/>
        <field var='runlevel-2' label='Non-Networked Multi-User mode'/>
        <field var='runlevel-3' label='Full Multi-User mode'/>
        <field var='runlevel-5' label='X-Window mode'/>
      </reported>
      <item>
        <field var='service'><value>httpd</value></field>
        <field var='runlevel-1'><value>off</value></field>
        <field var='runlevel-2'><value>off</value></field>
        <field var='runlevel-3'><value>on</value></field>
        <field var='runlevel-5'><value>on</value></field>
      </item>
      <item>
        <field var='service'><value>postgresql</value></field>
        <field var='runlevel-1'><value>off</value></field>
        <field var='runlevel-2'><value>off</value></field>
        <field var='runlevel-3'><value>on</value></field>
        <field var='runlevel-5'><value>on</value></field>
      </item>
      <item>
        <field var='service'><value>jabberd</value></field>
        <field var='runlevel-1'><value>off</value></field>
        <field var='runlevel-2'><value>off</value></field>
        <field var='runlevel-3'><value>on</value></field>
        <field var='runlevel-5'><value>on</value></field>
      </item>
    </x>
  </command>"#,
        );
        assert_eq!(command.status, Some(Status::Completed));
        assert_eq!(
            command.sessionid.as_deref(),
            Some("list:20020923T213616Z-700")
        );
        let form = command.form.unwrap();
        assert_eq!(form.type_, FormType::Result);
        assert_eq!(form.items.len(), 3);
    }

    // §2.4.2, "Execute command request (stage 1)" and "Execute command result
    // (stage 1)".
    #[test]
    fn stage_one_executing_response_round_trips() {
        let request = round_trip(
            r#"
  <command xmlns='http://jabber.org/protocol/commands'
           node='config'
           action='execute'/>"#,
        );
        assert_eq!(request, Command::request("config"));

        let command = round_trip(
            r#"
  <command xmlns='http://jabber.org/protocol/commands'
           sessionid='config:20020923T213616Z-700'
           node='config'
           status='executing'>
    <actions execute='next'>
      <next/>
    </actions>
    <x xmlns='jabber:x:data' type='form'>
      <title>Configure Service</title>
      <instructions>
        Please select the service to configure.
      </instructions>
      <field var='service' label='Service' type='list-single'>
        <option><value>httpd</value></option>
        <option><value>jabberd</value></option>
        <option><value>postgresql</value></option>
      </field>
    </x>
  </command>"#,
        );
        assert_eq!(command.status, Some(Status::Executing));
        assert_eq!(
            command.actions,
            Some(Actions {
                execute: Some(Action::Next),
                allowed: vec![Action::Next],
            })
        );
        let form = command.form.unwrap();
        assert_eq!(form.type_, FormType::Form);
        assert_eq!(form.field("service").unwrap().options.len(), 3);
    }

    // §2.4.2, "Execute command request (stage 2)", with the implied action and
    // with an explicit `next`.
    #[test]
    fn stage_two_submission_round_trips() {
        let command = round_trip(
            r#"
  <command xmlns='http://jabber.org/protocol/commands'
           sessionid='config:20020923T213616Z-700'
           node='config'>
    <x xmlns='jabber:x:data' type='submit'>
      <field var='service'>
        <value>httpd</value>
      </field>
    </x>
  </command>"#,
        );
        assert_eq!(command.action, None);
        let form = command.form.unwrap();
        assert_eq!(form.type_, FormType::Submit);
        assert_eq!(form.value("service"), Some("httpd"));

        let command = round_trip(
            r#"
  <command xmlns='http://jabber.org/protocol/commands'
           sessionid='config:20020923T213616Z-700'
           node='config'
           action='next'>
    <x xmlns='jabber:x:data' type='submit'>
      <field var='service'>
        <value>httpd</value>
      </field>
    </x>
  </command>"#,
        );
        assert_eq!(command.action, Some(Action::Next));
    }

    // §2.4.2, "Execute command result (stage 2)".
    #[test]
    fn stage_two_response_round_trips() {
        let command = round_trip(
            r#"
  <command xmlns='http://jabber.org/protocol/commands'
           sessionid='config:20020923T213616Z-700'
           node='config'
           status='executing'>
    <actions execute='complete'>
      <prev/>
      <complete/>
    </actions>
    <x xmlns='jabber:x:data' type='form'>
      <title>Configure Service</title>
      <instructions>
        Please select the run modes and state for 'httpd'.
      </instructions>
      <field var='runlevel' label='Run Modes' type='list-multi'>
        <value>3</value>
        <value>5</value>
        <option label='Single-User'><value>1</value></option>
        <option label='Non-Networked Multi-User'><value>2</value></option>
        <option label='Full Multi-User'><value>3</value></option>
        <option label='X-Window'><value>5</value></option>
      </field>
      <field var='state' label='Run State' type='list-single'>
        <value>off</value>
        <option label='Active'><value>off</value></option>
        <option label='Inactive'><value>on</value></option>
      </field>
    </x>
  </command>"#,
        );
        assert_eq!(
            command.actions,
            Some(Actions {
                execute: Some(Action::Complete),
                allowed: vec![Action::Prev, Action::Complete],
            })
        );
        assert_eq!(command.form.unwrap().values("runlevel"), ["3", "5"]);
    }

    // §2.4.2, "Execute command request (stage 3)" and "Execute command result
    // (stage 3)".
    #[test]
    fn stage_three_completes_with_note() {
        let request = round_trip(
            r#"
  <command xmlns='http://jabber.org/protocol/commands'
           sessionid='config:20020923T213616Z-700'
           node='config'>
    <x xmlns='jabber:x:data' type='submit'>
      <field var='mode'>
        <value>3</value>
      </field>
      <field var='state'>
        <value>on</value>
      </field>
    </x>
  </command>"#,
        );
        assert_eq!(request.form.unwrap().value("mode"), Some("3"));

        let command = round_trip(
            r#"
  <command xmlns='http://jabber.org/protocol/commands'
           sessionid='config:20020923T213616Z-700'
           node='config'
           status='completed'>
    <note type='info'>Service 'httpd' has been configured.</note>
  </command>"#,
        );
        assert_eq!(
            command,
            Command::response("config", "config:20020923T213616Z-700", Status::Completed)
                .with_note(NoteType::Info, "Service 'httpd' has been configured.")
        );
    }

    // §2.4.2, "Execute command request (revert from stage 2 to stage 1)" and its
    // result, which remembers the earlier choice.
    #[test]
    fn prev_request_and_response_round_trip() {
        let request = round_trip(
            r#"
  <command xmlns='http://jabber.org/protocol/commands'
           sessionid='config:20020923T213616Z-700'
           node='config'
           action='prev'/>"#,
        );
        assert_eq!(request.action, Some(Action::Prev));

        let command = round_trip(
            r#"
  <command xmlns='http://jabber.org/protocol/commands'
           sessionid='config:20020923T213616Z-700'
           node='config'
           status='executing'>
    <actions execute='next'>
      <next/>
    </actions>
    <x xmlns='jabber:x:data' type='form'>
      <title>Configure Service</title>
      <instructions>
        Please select the service to configure.
      </instructions>
      <field var='service' label='Service' type='list-single'>
        <value>httpd</value>
        <option><value>httpd</value></option>
        <option><value>jabberd</value></option>
        <option><value>postgresql</value></option>
      </field>
    </x>
  </command>"#,
        );
        assert_eq!(command.form.unwrap().value("service"), Some("httpd"));
    }

    // §2.4.3, "Execute command request (stage 2; canceling)" and "Execute command
    // result (stage 2; canceled)".
    #[test]
    fn cancel_request_and_canceled_response_round_trip() {
        let request = round_trip(
            r#"
  <command xmlns='http://jabber.org/protocol/commands'
           sessionid='config:20020923T213616Z-700'
           node='config'
           action='cancel'/>"#,
        );
        assert_eq!(request.action, Some(Action::Cancel));
        assert_eq!(request.status, None);

        let response = round_trip(
            r#"
  <command xmlns='http://jabber.org/protocol/commands'
           sessionid='config:20020923T213616Z-700'
           node='config'
           status='canceled'/>"#,
        );
        assert_eq!(
            response,
            Command::response("config", "config:20020923T213616Z-700", Status::Canceled)
        );
    }

    // §3.7, "Execute command failed result (with language/locale)": the command
    // the responder echoes carries `xml:lang`.
    #[test]
    fn xml_lang_maps_to_lang() {
        let elem = xml(r#"
  <command xmlns='http://jabber.org/protocol/commands'
           node='list'
           action='execute'
           xml:lang='fr-ca'/>"#);
        // Documents why parsing uses `attr_ns`: the prefixed name is not a key.
        assert_eq!(elem.attr("xml:lang"), None);
        let command = round_trip(
            r#"
  <command xmlns='http://jabber.org/protocol/commands'
           node='list'
           action='execute'
           xml:lang='fr-ca'/>"#,
        );
        assert_eq!(command, Command::request("list").with_lang("fr-ca"));

        let written = String::from(&Element::from(command));
        assert!(written.contains("xml:lang='fr-ca'"), "{written}");
        assert_eq!(
            Command::try_from(written.parse::<Element>().unwrap())
                .unwrap()
                .lang
                .as_deref(),
            Some("fr-ca")
        );
    }

    #[test]
    fn note_without_type_is_info() {
        let command = Command::try_from(xml(
            "<command xmlns='http://jabber.org/protocol/commands' node='n' status='completed'>\
               <note>Done.</note><note type='warn'>Odd.</note><note type='error'>Failed.</note>\
             </command>",
        ))
        .unwrap();
        assert_eq!(
            command.notes,
            [
                Note {
                    type_: NoteType::Info,
                    text: "Done.".to_owned(),
                },
                Note {
                    type_: NoteType::Warn,
                    text: "Odd.".to_owned(),
                },
                Note {
                    type_: NoteType::Error,
                    text: "Failed.".to_owned(),
                },
            ]
        );
    }

    #[test]
    fn foreign_payloads_are_skipped() {
        let command = Command::try_from(xml(r#"
  <command xmlns='http://jabber.org/protocol/commands' node='n' status='completed'>
    <x xmlns='jabber:x:oob'><url>https://example.org/rules</url></x>
    <note type='info'>See the link.</note>
  </command>"#))
        .unwrap();
        assert_eq!(command.form, None);
        assert_eq!(command.notes.len(), 1);
        assert_eq!(command.actions, None);
    }

    #[test]
    fn builders_produce_expected_xml() {
        let form = DataForm::new(FormType::Form, Some("urn:xmpp:game-bridge:invite"))
            .with_field(Field::jid_single("peer", "Peer").required());
        let command = Command::response("invite", "s1", Status::Executing)
            .with_actions(Actions::new(
                Some(Action::Complete),
                [Action::Cancel, Action::Prev, Action::Complete],
            ))
            .with_note(NoteType::Warn, "Juliet is away.")
            .with_form(form)
            .with_lang("en");
        assert_eq!(
            Element::from(command.clone()),
            xml(r#"
  <command xmlns='http://jabber.org/protocol/commands'
           node='invite' sessionid='s1' status='executing' xml:lang='en'>
    <actions execute='complete'><prev/><complete/></actions>
    <note type='warn'>Juliet is away.</note>
    <x xmlns='jabber:x:data' type='form'>
      <field var='FORM_TYPE' type='hidden'><value>urn:xmpp:game-bridge:invite</value></field>
      <field var='peer' type='jid-single' label='Peer'><required/></field>
    </x>
  </command>"#)
        );
        assert_eq!(
            Command::try_from(Element::from(command.clone())),
            Ok(command)
        );

        assert_eq!(
            Element::from(Command::request("invite").with_sessionid("s1")),
            xml("<command xmlns='http://jabber.org/protocol/commands' node='invite' sessionid='s1' action='execute'/>")
        );
    }

    #[test]
    fn actions_never_emit_execute_or_cancel_children() {
        let actions = Actions {
            execute: Some(Action::Next),
            allowed: vec![Action::Execute, Action::Next, Action::Cancel],
        };
        assert_eq!(
            Element::from(actions),
            xml("<actions xmlns='http://jabber.org/protocol/commands' execute='next'><next/></actions>")
        );
    }

    #[test]
    fn unknown_action_is_malformed() {
        let err = parse_err(
            "<command xmlns='http://jabber.org/protocol/commands' node='config' action='finish'/>",
        );
        assert_eq!(err, CommandError::MalformedAction("finish".to_owned()));
        assert_eq!(err.to_string(), "unknown command action 'finish'");
        assert_eq!(err.condition(), Some(SpecificCondition::MalformedAction));
    }

    #[test]
    fn missing_node_is_rejected() {
        let err =
            parse_err("<command xmlns='http://jabber.org/protocol/commands' action='execute'/>");
        assert_eq!(err, CommandError::MissingNode);
        assert_eq!(err.to_string(), "<command/> has no 'node' attribute");
        assert_eq!(err.condition(), None);
    }

    #[test]
    fn wrong_namespace_or_name_is_rejected() {
        let err = parse_err("<command xmlns='jabber:x:commands' node='config'/>");
        assert_eq!(err, CommandError::WrongElement);
        assert_eq!(
            err.to_string(),
            "expected <command xmlns='http://jabber.org/protocol/commands'/>"
        );
        assert_eq!(
            parse_err("<query xmlns='http://jabber.org/protocol/commands' node='config'/>"),
            CommandError::WrongElement
        );
    }

    #[test]
    fn unknown_status_is_rejected() {
        let err = parse_err(
            "<command xmlns='http://jabber.org/protocol/commands' node='n' status='cancelled'/>",
        );
        assert_eq!(err, CommandError::UnknownStatus("cancelled".to_owned()));
        assert_eq!(err.to_string(), "unknown command status 'cancelled'");
    }

    #[test]
    fn invalid_form_is_bad_payload() {
        let err = parse_err(
            "<command xmlns='http://jabber.org/protocol/commands' node='n'>\
               <x xmlns='jabber:x:data' type='submit'>\
                 <field var='public' type='boolean'><value>maybe</value></field>\
               </x>\
             </command>",
        );
        assert_eq!(
            err,
            CommandError::BadPayload(
                "boolean value 'maybe' is not one of 0, 1, true, false".to_owned()
            )
        );
        assert_eq!(
            err.to_string(),
            "invalid command payload: boolean value 'maybe' is not one of 0, 1, true, false"
        );
        assert_eq!(err.condition(), Some(SpecificCondition::BadPayload));

        assert_eq!(
            parse_err(
                "<command xmlns='http://jabber.org/protocol/commands' node='n'>\
                   <x xmlns='jabber:x:data'/>\
                 </command>"
            ),
            CommandError::BadPayload("data form has no 'type' attribute".to_owned())
        );
    }

    #[test]
    fn second_form_is_bad_payload() {
        assert_eq!(
            parse_err(
                "<command xmlns='http://jabber.org/protocol/commands' node='n'>\
                   <x xmlns='jabber:x:data' type='submit'/>\
                   <x xmlns='jabber:x:data' type='submit'/>\
                 </command>"
            ),
            CommandError::BadPayload("more than one data form".to_owned())
        );
    }

    #[test]
    fn invalid_actions_are_rejected() {
        let err = parse_err(
            "<command xmlns='http://jabber.org/protocol/commands' node='n' status='executing'>\
               <actions execute='finish'><next/></actions>\
             </command>",
        );
        assert_eq!(err, CommandError::BadActions("finish".to_owned()));
        assert_eq!(err.to_string(), "invalid action 'finish' in <actions/>");
        assert_eq!(
            parse_err(
                "<command xmlns='http://jabber.org/protocol/commands' node='n' status='executing'>\
                   <actions><cancel/></actions>\
                 </command>"
            ),
            CommandError::BadActions("cancel".to_owned())
        );
        assert_eq!(
            parse_err(
                "<command xmlns='http://jabber.org/protocol/commands' node='n' status='executing'>\
                   <actions><next/></actions><actions><prev/></actions>\
                 </command>"
            ),
            CommandError::DuplicateActions
        );
    }

    #[test]
    fn unknown_note_type_is_rejected() {
        let err = parse_err(
            "<command xmlns='http://jabber.org/protocol/commands' node='n' status='completed'>\
               <note type='fatal'>Boom.</note>\
             </command>",
        );
        assert_eq!(err, CommandError::UnknownNoteType("fatal".to_owned()));
        assert_eq!(err.to_string(), "unknown note type 'fatal'");
    }

    #[test]
    fn unknown_child_in_our_namespace_is_rejected() {
        let err = parse_err(
            "<command xmlns='http://jabber.org/protocol/commands' node='n'><info>x</info></command>",
        );
        assert_eq!(err, CommandError::UnknownChild("info".to_owned()));
        assert_eq!(err.to_string(), "<info/> is not allowed in <command/>");
    }

    #[test]
    fn specific_conditions_serialise() {
        for (condition, sample) in [
            (
                SpecificCondition::MalformedAction,
                "<malformed-action xmlns='http://jabber.org/protocol/commands'/>",
            ),
            (
                SpecificCondition::BadAction,
                "<bad-action xmlns='http://jabber.org/protocol/commands'/>",
            ),
            (
                SpecificCondition::BadLocale,
                "<bad-locale xmlns='http://jabber.org/protocol/commands'/>",
            ),
            (
                SpecificCondition::BadPayload,
                "<bad-payload xmlns='http://jabber.org/protocol/commands'/>",
            ),
            (
                SpecificCondition::BadSessionid,
                "<bad-sessionid xmlns='http://jabber.org/protocol/commands'/>",
            ),
            (
                SpecificCondition::SessionExpired,
                "<session-expired xmlns='http://jabber.org/protocol/commands'/>",
            ),
        ] {
            assert_eq!(condition.to_element(), xml(sample));
            assert_eq!(Element::from(condition), xml(sample));
        }
        assert_eq!(SpecificCondition::BadSessionid.as_str(), "bad-sessionid");
    }

    #[test]
    fn value_names_round_trip() {
        for action in [
            Action::Execute,
            Action::Cancel,
            Action::Prev,
            Action::Next,
            Action::Complete,
        ] {
            assert_eq!(action.as_str().parse(), Ok(action));
            assert_eq!(action.to_string(), action.as_str());
        }
        for status in [Status::Executing, Status::Completed, Status::Canceled] {
            assert_eq!(status.as_str().parse(), Ok(status));
            assert_eq!(status.to_string(), status.as_str());
        }
        for type_ in [NoteType::Info, NoteType::Warn, NoteType::Error] {
            assert_eq!(type_.as_str().parse(), Ok(type_));
        }
        assert_eq!(
            "Execute".parse::<Action>(),
            Err(CommandError::MalformedAction("Execute".to_owned()))
        );
    }

    #[test]
    fn form_field_types_survive_the_command() {
        let command = Command::try_from(xml(
            "<command xmlns='http://jabber.org/protocol/commands' node='n' status='executing'>\
               <x xmlns='jabber:x:data' type='form'>\
                 <field var='game' type='list-single'><option label='Chess'><value>chess</value></option></field>\
               </x>\
             </command>",
        ))
        .unwrap();
        let form = command.form.unwrap();
        let game = form.field("game").unwrap();
        assert_eq!(game.type_, Some(FieldType::ListSingle));
        assert_eq!(game.options, [FieldOption::labelled("Chess", "chess")]);
    }
}
