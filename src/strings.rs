//! Every sentence of a game invite a person reads, in each language the bridge speaks,
//! in one place. A user's language is what their client says (`xml:lang` on what it
//! sends); English is the fallback. Words users type back (`accept`, `decline`) stay
//! English in every language, and each sentence says them.
//!
//! To add a language: a variant of [`Lang`], its tag in [`Lang::from_tag`] and
//! [`Lang::tag`], and its arm in each function below (the compiler lists them).

/// A language the bridge writes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum Lang {
    #[default]
    En = 0,
    Fr = 1,
    De = 2,
    Es = 3,
}

impl Lang {
    /// The language of an `xml:lang` tag (`fr`, `fr-CA`, `de-AT`...); English for one
    /// the bridge does not speak.
    pub fn from_tag(tag: &str) -> Lang {
        let primary = tag.split(['-', '_']).next().unwrap_or("");
        match primary.to_ascii_lowercase().as_str() {
            "fr" => Lang::Fr,
            "de" => Lang::De,
            "es" => Lang::Es,
            _ => Lang::En,
        }
    }

    pub fn from_index(index: u8) -> Lang {
        match index {
            1 => Lang::Fr,
            2 => Lang::De,
            3 => Lang::Es,
            _ => Lang::En,
        }
    }

    /// The `xml:lang` of what is written in it.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Fr => "fr",
            Lang::De => "de",
            Lang::Es => "es",
        }
    }
}

/// What an invitation says.
pub struct Invitation<'a> {
    pub host: &'a str,
    pub game: &'a str,
    pub platform: &'a str,
    pub id: &'a str,
    /// Minutes left to answer (at least 1).
    pub minutes: u32,
    /// When it expires, `HH:MM` UTC.
    pub until: &'a str,
    pub join_uri: Option<&'a str>,
}

/// The invitation's text: who invites, to what, until when, how to answer, and the link.
pub fn invitation(lang: Lang, i: &Invitation<'_>) -> String {
    let (host, game, platform, id, minutes, until) =
        (i.host, i.game, i.platform, i.id, i.minutes, i.until);
    let mut text = match lang {
        Lang::En => format!(
            "{host} invites you to play {game} on {platform} (for {minutes} min, until {until} UTC). Reply \"accept {id}\" or \"decline {id}\"."
        ),
        Lang::Fr => format!(
            "{host} vous invite à jouer à {game} sur {platform} (pendant {minutes} min, jusqu'à {until} UTC). Répondez « accept {id} » ou « decline {id} »."
        ),
        Lang::De => format!(
            "{host} lädt dich zu {game} auf {platform} ein ({minutes} Min., bis {until} UTC). Antworte „accept {id}“ oder „decline {id}“."
        ),
        Lang::Es => format!(
            "{host} te invita a jugar a {game} en {platform} (durante {minutes} min, hasta las {until} UTC). Responde «accept {id}» o «decline {id}»."
        ),
    };
    if let Some(uri) = i.join_uri {
        text.push('\n');
        text.push_str(join(lang));
        text.push_str(": ");
        text.push_str(uri);
    }
    text
}

fn join(lang: Lang) -> &'static str {
    match lang {
        Lang::En => "Join",
        Lang::Fr => "Rejoindre",
        Lang::De => "Beitreten",
        Lang::Es => "Unirse",
    }
}

/// The invitation form's title.
pub fn invitation_title(lang: Lang, host: &str, game: &str) -> String {
    match lang {
        Lang::En => format!("{host} invites you to {game}"),
        Lang::Fr => format!("{host} vous invite à {game}"),
        Lang::De => format!("{host} lädt dich zu {game} ein"),
        Lang::Es => format!("{host} te invita a {game}"),
    }
}

/// The answer field's label in a question's form.
pub fn your_answer(lang: Lang) -> &'static str {
    match lang {
        Lang::En => "Your answer",
        Lang::Fr => "Votre réponse",
        Lang::De => "Deine Antwort",
        Lang::Es => "Tu respuesta",
    }
}

/// The neutral first choice of a question's form: answering nothing yet.
pub fn not_now(lang: Lang) -> &'static str {
    match lang {
        Lang::En => "Not now (decide later)",
        Lang::Fr => "Pas maintenant (décider plus tard)",
        Lang::De => "Nicht jetzt (später entscheiden)",
        Lang::Es => "Ahora no (decidir más tarde)",
    }
}

/// The reply to a question's form submitted with "not now": nothing was answered.
pub fn still_waiting(lang: Lang, id: &str, yes: &str, no: &str) -> String {
    match lang {
        Lang::En => format!("Nothing answered: {id} still waits for you. Reply \"{yes} {id}\" or \"{no} {id}\" when you decide."),
        Lang::Fr => format!("Rien n'est répondu : {id} vous attend encore. Répondez « {yes} {id} » ou « {no} {id} » quand vous aurez décidé."),
        Lang::De => format!("Nichts beantwortet: {id} wartet weiter auf dich. Antworte „{yes} {id}“ oder „{no} {id}“, wenn du dich entschieden hast."),
        Lang::Es => format!("Nada respondido: {id} sigue esperándote. Responde «{yes} {id}» o «{no} {id}» cuando lo decidas."),
    }
}

/// What a platform's consent request says.
pub struct ConsentRequest<'a> {
    /// The platform's name.
    pub platform: &'a str,
    /// Why it asks, in its own words.
    pub reason: Option<&'a str>,
    pub id: &'a str,
    /// Days left to answer.
    pub days: u32,
}

/// The consent request's text: who asks, what it will see and do, why, for how long,
/// and how to answer.
pub fn consent_request(lang: Lang, c: &ConsentRequest<'_>) -> String {
    let (platform, id, days) = (c.platform, c.id, c.days);
    let mut text = match lang {
        Lang::En => format!("{platform} asks to see when you are available, what your status says and whom you are chatting with, and to send you game invitations."),
        Lang::Fr => format!("{platform} demande à voir quand vous êtes disponible, ce que dit votre statut et avec qui vous discutez, et à vous envoyer des invitations à jouer."),
        Lang::De => format!("{platform} möchte sehen, wann du erreichbar bist, was dein Status sagt und mit wem du chattest, und dir Spieleinladungen schicken."),
        Lang::Es => format!("{platform} pide ver cuándo estás disponible, qué dice tu estado y con quién chateas, y enviarte invitaciones a jugar."),
    };
    if let Some(reason) = c.reason {
        text.push('\n');
        text.push_str(&match lang {
            Lang::En => format!("Why, in {platform}'s words: \"{reason}\""),
            Lang::Fr => format!("Pourquoi, selon {platform} : « {reason} »"),
            Lang::De => format!("Warum, in den Worten von {platform}: „{reason}“"),
            Lang::Es => format!("Por qué, en palabras de {platform}: «{reason}»"),
        });
    }
    text.push('\n');
    text.push_str(&match lang {
        Lang::En => format!("Reply \"yes {id}\" to agree or \"no {id}\" to refuse, within {days} days. You can change your mind any time: say \"privacy\"."),
        Lang::Fr => format!("Répondez « yes {id} » pour accepter ou « no {id} » pour refuser, d'ici {days} jours. Vous pouvez changer d'avis à tout moment : dites « privacy »."),
        Lang::De => format!("Antworte „yes {id}“ zum Zustimmen oder „no {id}“ zum Ablehnen, innerhalb von {days} Tagen. Du kannst es dir jederzeit anders überlegen: sag „privacy“."),
        Lang::Es => format!("Responde «yes {id}» para aceptar o «no {id}» para rechazar, en {days} días. Puedes cambiar de opinión cuando quieras: di «privacy»."),
    });
    text
}

/// The consent request's form title.
pub fn consent_title(lang: Lang, platform: &str) -> String {
    match lang {
        Lang::En => format!("{platform} asks to see you"),
        Lang::Fr => format!("{platform} demande à vous voir"),
        Lang::De => format!("{platform} möchte dich sehen"),
        Lang::Es => format!("{platform} pide verte"),
    }
}

/// The consent request's two choices: share, do not share.
pub fn share_or_not(lang: Lang, platform: &str) -> (String, &'static str) {
    match lang {
        Lang::En => (format!("Share with {platform}"), "Do not share"),
        Lang::Fr => (format!("Partager avec {platform}"), "Ne pas partager"),
        Lang::De => (format!("Mit {platform} teilen"), "Nicht teilen"),
        Lang::Es => (format!("Compartir con {platform}"), "No compartir"),
    }
}

/// The confirmation of a consent answer.
pub fn consent_answered(lang: Lang, yes: bool, platform: &str) -> String {
    match (lang, yes) {
        (Lang::En, true) => format!("Thank you: {platform} may now see you. Say \"privacy\" to change it any time."),
        (Lang::En, false) => format!("{platform} will not see you, and will not ask again for a week. Say \"share {platform}\" if you change your mind."),
        (Lang::Fr, true) => format!("Merci : {platform} peut maintenant vous voir. Dites « privacy » pour changer cela à tout moment."),
        (Lang::Fr, false) => format!("{platform} ne vous verra pas et ne redemandera pas avant une semaine. Dites « share {platform} » si vous changez d'avis."),
        (Lang::De, true) => format!("Danke: {platform} darf dich jetzt sehen. Sag „privacy“, um das jederzeit zu ändern."),
        (Lang::De, false) => format!("{platform} sieht dich nicht und fragt eine Woche lang nicht wieder. Sag „share {platform}“, wenn du es dir anders überlegst."),
        (Lang::Es, true) => format!("Gracias: {platform} ya puede verte. Di «privacy» para cambiarlo cuando quieras."),
        (Lang::Es, false) => format!("{platform} no te verá y no volverá a preguntar en una semana. Di «share {platform}» si cambias de opinión."),
    }
}

/// The two buttons: accept, decline.
pub fn accept_decline(lang: Lang) -> (&'static str, &'static str) {
    match lang {
        Lang::En => ("Accept", "Decline"),
        Lang::Fr => ("Accepter", "Refuser"),
        Lang::De => ("Annehmen", "Ablehnen"),
        Lang::Es => ("Aceptar", "Rechazar"),
    }
}

/// The confirmation of an invitee's answer.
pub fn answered(
    lang: Lang,
    accepted: bool,
    host: &str,
    game: &str,
    join_uri: Option<&str>,
) -> String {
    let mut text = match (lang, accepted) {
        (Lang::En, true) => format!("You accepted {host}'s invitation to {game}. Have fun!"),
        (Lang::En, false) => format!("You declined {host}'s invitation to {game}."),
        (Lang::Fr, true) => format!("Vous avez accepté l'invitation de {host} à {game}. Bon jeu !"),
        (Lang::Fr, false) => format!("Vous avez refusé l'invitation de {host} à {game}."),
        (Lang::De, true) => {
            format!("Du hast die Einladung von {host} zu {game} angenommen. Viel Spaß!")
        }
        (Lang::De, false) => format!("Du hast die Einladung von {host} zu {game} abgelehnt."),
        (Lang::Es, true) => {
            format!("Aceptaste la invitación de {host} a {game}. ¡Que te diviertas!")
        }
        (Lang::Es, false) => format!("Rechazaste la invitación de {host} a {game}."),
    };
    if let (true, Some(uri)) = (accepted, join_uri) {
        text.push(' ');
        text.push_str(join(lang));
        text.push_str(": ");
        text.push_str(uri);
    }
    text
}

/// Why an invitation can no longer be answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    Expired,
    Cancelled,
    /// The session started or ended first.
    Started,
    /// It has all its players.
    Full,
    /// Answered already (accepted when `true`).
    Answered(bool),
}

/// The friendly explanation for an answer to an invitation that is closed.
pub fn closed(lang: Lang, why: Closed, host: &str, game: &str, id: &str) -> String {
    match (lang, why) {
        (Lang::En, Closed::Expired) => format!("The invitation {id} from {host} to {game} expired before you answered."),
        (Lang::En, Closed::Cancelled) => format!("{host}'s invitation {id} to {game} was cancelled."),
        (Lang::En, Closed::Started) => format!("The game of {game} with {host} started without waiting; the invitation {id} is closed."),
        (Lang::En, Closed::Full) => format!("Sorry, the game of {game} with {host} is full."),
        (Lang::En, Closed::Answered(yes)) => format!("You already {} the invitation {id} from {host}.", if yes { "accepted" } else { "declined" }),
        (Lang::Fr, Closed::Expired) => format!("L'invitation {id} de {host} à {game} a expiré avant votre réponse."),
        (Lang::Fr, Closed::Cancelled) => format!("L'invitation {id} de {host} à {game} a été annulée."),
        (Lang::Fr, Closed::Started) => format!("La partie de {game} avec {host} a commencé ; l'invitation {id} est close."),
        (Lang::Fr, Closed::Full) => format!("Désolé, la partie de {game} avec {host} est complète."),
        (Lang::Fr, Closed::Answered(yes)) => format!("Vous avez déjà {} l'invitation {id} de {host}.", if yes { "accepté" } else { "refusé" }),
        (Lang::De, Closed::Expired) => format!("Die Einladung {id} von {host} zu {game} ist abgelaufen, bevor du geantwortet hast."),
        (Lang::De, Closed::Cancelled) => format!("Die Einladung {id} von {host} zu {game} wurde abgesagt."),
        (Lang::De, Closed::Started) => format!("Das Spiel {game} mit {host} hat schon begonnen; die Einladung {id} ist geschlossen."),
        (Lang::De, Closed::Full) => format!("Leider ist das Spiel {game} mit {host} voll."),
        (Lang::De, Closed::Answered(yes)) => format!("Du hast die Einladung {id} von {host} schon {}.", if yes { "angenommen" } else { "abgelehnt" }),
        (Lang::Es, Closed::Expired) => format!("La invitación {id} de {host} a {game} caducó antes de tu respuesta."),
        (Lang::Es, Closed::Cancelled) => format!("La invitación {id} de {host} a {game} fue cancelada."),
        (Lang::Es, Closed::Started) => format!("La partida de {game} con {host} ya empezó; la invitación {id} está cerrada."),
        (Lang::Es, Closed::Full) => format!("Lo siento, la partida de {game} con {host} está completa."),
        (Lang::Es, Closed::Answered(yes)) => format!("Ya {} la invitación {id} de {host}.", if yes { "aceptaste" } else { "rechazaste" }),
    }
}

/// What the host reads when an invitee answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostNews {
    Accepted,
    Declined,
    /// Wanted to join, but the session is full.
    Full,
    /// Nobody joined before the expiry.
    Alone,
    /// The last invitee still waiting declined: nobody joined.
    DeclinedAlone,
    /// The platform (named in `invitee`'s place) cancelled the invite.
    Cancelled,
}

pub fn to_host(lang: Lang, news: HostNews, invitee: &str, game: &str) -> String {
    match (lang, news) {
        (Lang::En, HostNews::Accepted) => format!("{invitee} accepted your invitation to {game}."),
        (Lang::En, HostNews::Declined) => format!("{invitee} declined your invitation to {game}."),
        (Lang::En, HostNews::Full) => format!("{invitee} wanted to join {game}, but it is full."),
        (Lang::En, HostNews::Alone) => {
            format!("Nobody joined {game} in time: this one is a solo game.")
        }
        (Lang::En, HostNews::DeclinedAlone) => format!(
            "{invitee} declined your invitation to {game}. Nobody joined {game}: this one is a solo game."
        ),
        (Lang::En, HostNews::Cancelled) => {
            format!("Your invitation to {game} was cancelled by {invitee}.")
        }
        (Lang::Fr, HostNews::Accepted) => format!("{invitee} a accepté votre invitation à {game}."),
        (Lang::Fr, HostNews::Declined) => format!("{invitee} a refusé votre invitation à {game}."),
        (Lang::Fr, HostNews::Full) => {
            format!("{invitee} voulait rejoindre {game}, mais la partie est complète.")
        }
        (Lang::Fr, HostNews::Alone) => {
            format!("Personne n'a rejoint {game} à temps : vous jouerez seul.")
        }
        (Lang::Fr, HostNews::DeclinedAlone) => format!(
            "{invitee} a refusé votre invitation à {game}. Personne n'a rejoint {game} : vous jouerez seul."
        ),
        (Lang::Fr, HostNews::Cancelled) => {
            format!("Votre invitation à {game} a été annulée par {invitee}.")
        }
        (Lang::De, HostNews::Accepted) => {
            format!("{invitee} hat deine Einladung zu {game} angenommen.")
        }
        (Lang::De, HostNews::Declined) => {
            format!("{invitee} hat deine Einladung zu {game} abgelehnt.")
        }
        (Lang::De, HostNews::Full) => {
            format!("{invitee} wollte {game} beitreten, aber das Spiel ist voll.")
        }
        (Lang::De, HostNews::Alone) => {
            format!("Niemand ist {game} rechtzeitig beigetreten: du spielst allein.")
        }
        (Lang::De, HostNews::DeclinedAlone) => format!(
            "{invitee} hat deine Einladung zu {game} abgelehnt. Niemand ist {game} beigetreten: du spielst allein."
        ),
        (Lang::De, HostNews::Cancelled) => {
            format!("Deine Einladung zu {game} wurde von {invitee} abgesagt.")
        }
        (Lang::Es, HostNews::Accepted) => format!("{invitee} aceptó tu invitación a {game}."),
        (Lang::Es, HostNews::Declined) => format!("{invitee} rechazó tu invitación a {game}."),
        (Lang::Es, HostNews::Full) => {
            format!("{invitee} quería unirse a {game}, pero está completa.")
        }
        (Lang::Es, HostNews::Alone) => {
            format!("Nadie se unió a {game} a tiempo: esta vez juegas solo.")
        }
        (Lang::Es, HostNews::DeclinedAlone) => format!(
            "{invitee} rechazó tu invitación a {game}. Nadie se unió a {game}: esta vez juegas solo."
        ),
        (Lang::Es, HostNews::Cancelled) => {
            format!("Tu invitación a {game} fue cancelada por {invitee}.")
        }
    }
}

/// A short line naming a waiting invitation, in a list.
pub fn waiting_line(lang: Lang, host: &str, game: &str, id: &str) -> String {
    match lang {
        Lang::En => format!("\"accept {id}\": {host} invites you to {game}"),
        Lang::Fr => format!("« accept {id} » : {host} vous invite à {game}"),
        Lang::De => format!("„accept {id}“: {host} lädt dich zu {game} ein"),
        Lang::Es => format!("«accept {id}»: {host} te invita a {game}"),
    }
}

/// The list of what waits for a user's answer (`lines` from [`waiting_line`]).
pub fn waiting(lang: Lang, lines: &[String]) -> String {
    if lines.is_empty() {
        return match lang {
            Lang::En => "Nothing is waiting for your answer.",
            Lang::Fr => "Rien n'attend votre réponse.",
            Lang::De => "Nichts wartet auf deine Antwort.",
            Lang::Es => "Nada espera tu respuesta.",
        }
        .to_owned();
    }
    let head = match lang {
        Lang::En => "Several wait for your answer; say which:",
        Lang::Fr => "Plusieurs attendent votre réponse ; dites laquelle :",
        Lang::De => "Mehreres wartet auf deine Antwort; sag, worauf:",
        Lang::Es => "Varias esperan tu respuesta; di cuál:",
    };
    let mut text = head.to_owned();
    for line in lines {
        text.push_str("\n- ");
        text.push_str(line);
    }
    text
}

/// A user's waiting invitations (`lines` from [`waiting_line`]).
pub fn waiting_list(lang: Lang, lines: &[String]) -> String {
    let head = match (lang, lines.is_empty()) {
        (Lang::En, true) => return "No game invitation is waiting for you.".to_owned(),
        (Lang::Fr, true) => return "Aucune invitation à jouer ne vous attend.".to_owned(),
        (Lang::De, true) => return "Keine Spieleinladung wartet auf dich.".to_owned(),
        (Lang::Es, true) => return "No tienes invitaciones a jugar pendientes.".to_owned(),
        (Lang::En, false) => "Game invitations waiting for your answer:",
        (Lang::Fr, false) => "Invitations à jouer en attente de votre réponse :",
        (Lang::De, false) => "Spieleinladungen, die auf deine Antwort warten:",
        (Lang::Es, false) => "Invitaciones a jugar que esperan tu respuesta:",
    };
    let mut text = head.to_owned();
    for line in lines {
        text.push_str("\n- ");
        text.push_str(line);
    }
    text
}

/// What a user reads after muting or unmuting invitations (`host`: `None` for everyone).
pub fn muted(lang: Lang, mute: bool, host: Option<&str>) -> String {
    match (lang, mute, host) {
        (Lang::En, true, Some(h)) => format!("You will get no more invitations from {h}. Say \"unmute {h}\" to undo."),
        (Lang::En, true, None) => "You will get no more game invitations. Say \"unmute\" to undo.".to_owned(),
        (Lang::En, false, Some(h)) => format!("Invitations from {h} reach you again."),
        (Lang::En, false, None) => "Game invitations reach you again.".to_owned(),
        (Lang::Fr, true, Some(h)) => format!("Vous ne recevrez plus d'invitations de {h}. Dites « unmute {h} » pour annuler."),
        (Lang::Fr, true, None) => "Vous ne recevrez plus d'invitations à jouer. Dites « unmute » pour annuler.".to_owned(),
        (Lang::Fr, false, Some(h)) => format!("Les invitations de {h} vous parviennent à nouveau."),
        (Lang::Fr, false, None) => "Les invitations à jouer vous parviennent à nouveau.".to_owned(),
        (Lang::De, true, Some(h)) => format!("Du bekommst keine Einladungen mehr von {h}. Sag „unmute {h}“, um das rückgängig zu machen."),
        (Lang::De, true, None) => "Du bekommst keine Spieleinladungen mehr. Sag „unmute“, um das rückgängig zu machen.".to_owned(),
        (Lang::De, false, Some(h)) => format!("Einladungen von {h} erreichen dich wieder."),
        (Lang::De, false, None) => "Spieleinladungen erreichen dich wieder.".to_owned(),
        (Lang::Es, true, Some(h)) => format!("Ya no recibirás invitaciones de {h}. Di «unmute {h}» para deshacerlo."),
        (Lang::Es, true, None) => "Ya no recibirás invitaciones a jugar. Di «unmute» para deshacerlo.".to_owned(),
        (Lang::Es, false, Some(h)) => format!("Las invitaciones de {h} vuelven a llegarte."),
        (Lang::Es, false, None) => "Las invitaciones a jugar vuelven a llegarte.".to_owned(),
    }
}

/// The privacy page's link (`None`: the page is not served here).
pub fn page_link(lang: Lang, url: Option<&str>, minutes: u64) -> String {
    match (lang, url) {
        (Lang::En, Some(url)) => format!("Your privacy page, for one visit within {minutes} minutes: {url}\nSay \"privacy link\" for a new one."),
        (Lang::Fr, Some(url)) => format!("Votre page de confidentialité, pour une visite dans les {minutes} minutes : {url}\nDites « privacy link » pour un nouveau lien."),
        (Lang::De, Some(url)) => format!("Deine Datenschutzseite, für einen Besuch innerhalb von {minutes} Minuten: {url}\nSag „privacy link“ für einen neuen Link."),
        (Lang::Es, Some(url)) => format!("Tu página de privacidad, para una visita en los próximos {minutes} minutos: {url}\nDi «privacy link» para un enlace nuevo."),
        (Lang::En, None) => "This server has no privacy page; say \"privacy\" and \"history\" instead.".to_owned(),
        (Lang::Fr, None) => "Ce serveur n'a pas de page de confidentialité ; dites « privacy » et « history » à la place.".to_owned(),
        (Lang::De, None) => "Dieser Server hat keine Datenschutzseite; sag stattdessen „privacy“ und „history“.".to_owned(),
        (Lang::Es, None) => "Este servidor no tiene página de privacidad; di «privacy» e «history» en su lugar.".to_owned(),
    }
}

/// A platform's suggestion of a page (`open-url`), with its own words if it gave any.
pub fn suggests_page(lang: Lang, platform: &str, text: Option<&str>, url: &str) -> String {
    let head = match lang {
        Lang::En => format!("{platform} suggests a page"),
        Lang::Fr => format!("{platform} vous suggère une page"),
        Lang::De => format!("{platform} schlägt dir eine Seite vor"),
        Lang::Es => format!("{platform} te sugiere una página"),
    };
    match text {
        Some(text) => format!("{head}: {text}\n{url}"),
        None => format!("{head}:\n{url}"),
    }
}

/// A platform asks for a user's attention (`attention`).
pub fn asks_attention(lang: Lang, platform: &str, reason: Option<&str>) -> String {
    match (lang, reason) {
        (Lang::En, Some(r)) => format!("{platform} asks for your attention: {r}"),
        (Lang::En, None) => format!("{platform} asks for your attention."),
        (Lang::Fr, Some(r)) => format!("{platform} demande votre attention : {r}"),
        (Lang::Fr, None) => format!("{platform} demande votre attention."),
        (Lang::De, Some(r)) => format!("{platform} bittet um deine Aufmerksamkeit: {r}"),
        (Lang::De, None) => format!("{platform} bittet um deine Aufmerksamkeit."),
        (Lang::Es, Some(r)) => format!("{platform} pide tu atención: {r}"),
        (Lang::Es, None) => format!("{platform} pide tu atención."),
    }
}

/// A platform offers a link that starts a game on the user's device (`launch`); `what`:
/// the platform's name for it, if it gave one.
pub fn asks_launch(lang: Lang, platform: &str, what: Option<&str>, uri: &str) -> String {
    match lang {
        Lang::En => format!(
            "{platform} asks to start {} on this device:\n{uri}",
            what.unwrap_or("the game")
        ),
        Lang::Fr => format!(
            "{platform} propose de lancer {} sur cet appareil :\n{uri}",
            what.unwrap_or("le jeu")
        ),
        Lang::De => format!(
            "{platform} möchte {} auf diesem Gerät starten:\n{uri}",
            what.unwrap_or("das Spiel")
        ),
        Lang::Es => format!(
            "{platform} pide iniciar {} en este dispositivo:\n{uri}",
            what.unwrap_or("el juego")
        ),
    }
}

/// What a user's status for games is, or became.
pub enum StatusNow<'a> {
    Set(&'a str),
    Cleared,
    /// The status, who set it, and how long ago (from [`ago`]).
    Is(&'a str, &'a str, &'a str),
    None,
}

pub fn my_status(lang: Lang, status: StatusNow<'_>) -> String {
    match (lang, status) {
        (Lang::En, StatusNow::Set(s)) => format!("Your status is now \"{s}\". Platforms you share with see it, even when you are offline; say \"status clear\" to remove it."),
        (Lang::En, StatusNow::Cleared) => "Your status is cleared.".to_owned(),
        (Lang::En, StatusNow::Is(s, by, when)) => format!("Your status is \"{s}\" (set by {by}, {when})."),
        (Lang::En, StatusNow::None) => "You have no status. Say \"status\" and a line of text to set one.".to_owned(),
        (Lang::Fr, StatusNow::Set(s)) => format!("Votre statut est maintenant « {s} ». Les plateformes avec qui vous partagez le voient, même hors ligne ; dites « status clear » pour l'effacer."),
        (Lang::Fr, StatusNow::Cleared) => "Votre statut est effacé.".to_owned(),
        (Lang::Fr, StatusNow::Is(s, by, when)) => format!("Votre statut est « {s} » (mis par {by}, {when})."),
        (Lang::Fr, StatusNow::None) => "Vous n'avez pas de statut. Dites « status » suivi d'une ligne de texte pour en mettre un.".to_owned(),
        (Lang::De, StatusNow::Set(s)) => format!("Dein Status ist jetzt „{s}“. Plattformen, mit denen du teilst, sehen ihn auch, wenn du offline bist; sag „status clear“, um ihn zu entfernen."),
        (Lang::De, StatusNow::Cleared) => "Dein Status ist gelöscht.".to_owned(),
        (Lang::De, StatusNow::Is(s, by, when)) => format!("Dein Status ist „{s}“ (gesetzt von {by}, {when})."),
        (Lang::De, StatusNow::None) => "Du hast keinen Status. Sag „status“ und eine Zeile Text, um einen zu setzen.".to_owned(),
        (Lang::Es, StatusNow::Set(s)) => format!("Tu estado es ahora «{s}». Las plataformas con las que compartes lo ven, incluso sin conexión; di «status clear» para quitarlo."),
        (Lang::Es, StatusNow::Cleared) => "Tu estado está borrado.".to_owned(),
        (Lang::Es, StatusNow::Is(s, by, when)) => format!("Tu estado es «{s}» (puesto por {by}, {when})."),
        (Lang::Es, StatusNow::None) => "No tienes estado. Di «status» y una línea de texto para poner uno.".to_owned(),
    }
}

/// Why a question (not an invitation) cannot be answered now.
pub enum QuestionClosed<'a> {
    /// There is no such question for this user (the id as they wrote it, cut).
    Unknown(&'a str),
    /// It is being answered (by another of the user's devices).
    Answering(&'a str),
    /// It expired; the platform (its name) can ask again.
    Expired(&'a str, &'a str),
    /// Answered already: the id and the answer.
    Answered(&'a str, &'a str),
}

pub fn question_closed(lang: Lang, why: QuestionClosed<'_>) -> String {
    match (lang, why) {
        (Lang::En, QuestionClosed::Unknown(id)) => format!("There is no invitation or question {id} for you. Say \"invitations\" to see yours, or \"privacy\" to see what you share."),
        (Lang::En, QuestionClosed::Answering(id)) => format!("{id} is being answered."),
        (Lang::En, QuestionClosed::Expired(id, p)) => format!("The question {id} expired before you answered; {p} can ask again."),
        (Lang::En, QuestionClosed::Answered(id, a)) => format!("You already answered {a} to {id}. Say \"privacy\" to change your mind."),
        (Lang::Fr, QuestionClosed::Unknown(id)) => format!("Il n'y a pas d'invitation ou de question {id} pour vous. Dites « invitations » pour voir les vôtres, ou « privacy » pour voir ce que vous partagez."),
        (Lang::Fr, QuestionClosed::Answering(id)) => format!("{id} est en train de recevoir une réponse."),
        (Lang::Fr, QuestionClosed::Expired(id, p)) => format!("La question {id} a expiré avant votre réponse ; {p} peut redemander."),
        (Lang::Fr, QuestionClosed::Answered(id, a)) => format!("Vous avez déjà répondu {a} à {id}. Dites « privacy » pour changer d'avis."),
        (Lang::De, QuestionClosed::Unknown(id)) => format!("Es gibt keine Einladung oder Frage {id} für dich. Sag „invitations“, um deine zu sehen, oder „privacy“, um zu sehen, was du teilst."),
        (Lang::De, QuestionClosed::Answering(id)) => format!("{id} wird gerade beantwortet."),
        (Lang::De, QuestionClosed::Expired(id, p)) => format!("Die Frage {id} ist abgelaufen, bevor du geantwortet hast; {p} kann erneut fragen."),
        (Lang::De, QuestionClosed::Answered(id, a)) => format!("Du hast {id} schon mit {a} beantwortet. Sag „privacy“, um es dir anders zu überlegen."),
        (Lang::Es, QuestionClosed::Unknown(id)) => format!("No hay ninguna invitación o pregunta {id} para ti. Di «invitations» para ver las tuyas, o «privacy» para ver qué compartes."),
        (Lang::Es, QuestionClosed::Answering(id)) => format!("{id} se está respondiendo."),
        (Lang::Es, QuestionClosed::Expired(id, p)) => format!("La pregunta {id} caducó antes de tu respuesta; {p} puede volver a preguntar."),
        (Lang::Es, QuestionClosed::Answered(id, a)) => format!("Ya respondiste {a} a {id}. Di «privacy» para cambiar de opinión."),
    }
}

/// A waiting consent request in a list: the words that answer it, and who asks.
pub fn waiting_question(lang: Lang, word: &str, id: &str, platform: &str) -> String {
    match lang {
        Lang::En => format!("\"{word} {id}\": {platform} asks to see you"),
        Lang::Fr => format!("« {word} {id} » : {platform} demande à vous voir"),
        Lang::De => format!("„{word} {id}“: {platform} möchte dich sehen"),
        Lang::Es => format!("«{word} {id}»: {platform} pide verte"),
    }
}

/// The words the bridge does not know (`Some`), or a chat message too long to read.
pub fn not_understood(lang: Lang, word: Option<&str>) -> String {
    match (lang, word) {
        (Lang::En, Some(w)) => format!("I do not know \"{w}\". Say \"help\" to see what I understand."),
        (Lang::En, None) => "That message is too long for me: I understand short words. Say \"help\" to see them.".to_owned(),
        (Lang::Fr, Some(w)) => format!("Je ne connais pas « {w} ». Dites « help » pour voir ce que je comprends."),
        (Lang::Fr, None) => "Ce message est trop long pour moi : je comprends des mots courts. Dites « help » pour les voir.".to_owned(),
        (Lang::De, Some(w)) => format!("„{w}“ kenne ich nicht. Sag „help“, um zu sehen, was ich verstehe."),
        (Lang::De, None) => "Diese Nachricht ist mir zu lang: ich verstehe kurze Wörter. Sag „help“, um sie zu sehen.".to_owned(),
        (Lang::Es, Some(w)) => format!("No conozco «{w}». Di «help» para ver lo que entiendo."),
        (Lang::Es, None) => "Ese mensaje es demasiado largo para mí: entiendo palabras cortas. Di «help» para verlas.".to_owned(),
    }
}

/// How to use a chat word, as `help` lists it.
pub fn usage(lang: Lang, word: &str) -> String {
    let text = match (lang, word) {
        (Lang::En, "privacy") => "privacy: which platforms see you (privacy link: a link to your privacy page)",
        (Lang::En, "share") => "share all / share none / share <platform>: let platforms see you or not",
        (Lang::En, "stop") => "stop <platform>: that platform no longer sees you",
        (Lang::En, "history") => "history: which platforms looked at you lately (history 50: more)",
        (Lang::En, "status") => "status <text> / status clear: a status platforms you share with see, even when you are offline",
        (Lang::En, "accept") => "accept <id> / decline <id>: answer a game invitation (the id can be left out when only one waits)",
        (Lang::En, "yes") => "yes <id> / no <id>: answer a platform's question (the id can be left out when only one waits)",
        (Lang::En, "invitations") => "invitations: the game invitations waiting for your answer",
        (Lang::En, "mute") => "mute [someone]: no more game invitations (from them, or from anyone; \"mute alice\" is alice of your server); unmute [someone] to undo",
        (Lang::Fr, "privacy") => "privacy : quelles plateformes vous voient (privacy link : un lien vers votre page de confidentialité)",
        (Lang::Fr, "share") => "share all / share none / share <plateforme> : laisser les plateformes vous voir, ou non",
        (Lang::Fr, "stop") => "stop <plateforme> : cette plateforme ne vous voit plus",
        (Lang::Fr, "history") => "history : quelles plateformes vous ont regardé récemment (history 50 : davantage)",
        (Lang::Fr, "status") => "status <texte> / status clear : un statut que voient les plateformes avec qui vous partagez, même hors ligne",
        (Lang::Fr, "accept") => "accept <id> / decline <id> : répondre à une invitation à jouer (l'id peut être omis quand une seule attend)",
        (Lang::Fr, "yes") => "yes <id> / no <id> : répondre à la question d'une plateforme (l'id peut être omis quand une seule attend)",
        (Lang::Fr, "invitations") => "invitations : les invitations à jouer qui attendent votre réponse",
        (Lang::Fr, "mute") => "mute [quelqu'un] : plus d'invitations à jouer (de cette personne, ou de personne ; « mute alice » est alice de votre serveur) ; unmute [quelqu'un] pour annuler",
        (Lang::De, "privacy") => "privacy: welche Plattformen dich sehen (privacy link: ein Link zu deiner Datenschutzseite)",
        (Lang::De, "share") => "share all / share none / share <Plattform>: Plattformen dich sehen lassen oder nicht",
        (Lang::De, "stop") => "stop <Plattform>: diese Plattform sieht dich nicht mehr",
        (Lang::De, "history") => "history: welche Plattformen dich zuletzt angesehen haben (history 50: mehr)",
        (Lang::De, "status") => "status <Text> / status clear: ein Status, den Plattformen sehen, mit denen du teilst, auch wenn du offline bist",
        (Lang::De, "accept") => "accept <id> / decline <id>: eine Spieleinladung beantworten (die id kann fehlen, wenn nur eine wartet)",
        (Lang::De, "yes") => "yes <id> / no <id>: die Frage einer Plattform beantworten (die id kann fehlen, wenn nur eine wartet)",
        (Lang::De, "invitations") => "invitations: die Spieleinladungen, die auf deine Antwort warten",
        (Lang::De, "mute") => "mute [jemand]: keine Spieleinladungen mehr (von dieser Person oder von niemandem; „mute alice“ ist alice deines Servers); unmute [jemand] macht es rückgängig",
        (Lang::Es, "privacy") => "privacy: qué plataformas te ven (privacy link: un enlace a tu página de privacidad)",
        (Lang::Es, "share") => "share all / share none / share <plataforma>: dejar que las plataformas te vean, o no",
        (Lang::Es, "stop") => "stop <plataforma>: esa plataforma ya no te ve",
        (Lang::Es, "history") => "history: qué plataformas te miraron últimamente (history 50: más)",
        (Lang::Es, "status") => "status <texto> / status clear: un estado que ven las plataformas con las que compartes, incluso sin conexión",
        (Lang::Es, "accept") => "accept <id> / decline <id>: responder a una invitación a jugar (el id puede omitirse si solo espera una)",
        (Lang::Es, "yes") => "yes <id> / no <id>: responder a la pregunta de una plataforma (el id puede omitirse si solo espera una)",
        (Lang::Es, "invitations") => "invitations: las invitaciones a jugar que esperan tu respuesta",
        (Lang::Es, "mute") => "mute [alguien]: no más invitaciones a jugar (de esa persona, o de nadie; «mute alice» es alice de tu servidor); unmute [alguien] para deshacerlo",
        (_, word) => word,
    };
    text.to_owned()
}

/// The privacy page's words (in the browser's language), each in the other languages.
pub const PAGE_TEXTS: &[[&str; 4]] = &[
    ["Your privacy", "Votre confidentialité", "Deine Privatsphäre", "Tu privacidad"],
    ["Platforms", "Plateformes", "Plattformen", "Plataformas"],
    ["See you", "Vous voient", "Sehen dich", "Te ven"],
    ["Do not see you", "Ne vous voient pas", "Sehen dich nicht", "No te ven"],
    ["none", "aucune", "keine", "ninguna"],
    ["Stop", "Arrêter", "Stoppen", "Dejar"],
    ["Share", "Partager", "Teilen", "Compartir"],
    ["Share with every platform", "Partager avec toutes les plateformes", "Mit jeder Plattform teilen", "Compartir con todas las plataformas"],
    ["Share with none", "Ne partager avec aucune", "Mit keiner teilen", "No compartir con ninguna"],
    ["Game invitations muted from:", "Invitations en sourdine de :", "Einladungen stummgeschaltet von:", "Invitaciones silenciadas de:"],
    ["Who looked at you lately", "Qui vous a regardé récemment", "Wer dich zuletzt angesehen hat", "Quién te miró últimamente"],
    ["No platform looked at you lately.", "Aucune plateforme ne vous a regardé récemment.", "Keine Plattform hat dich in letzter Zeit angesehen.", "Ninguna plataforma te ha mirado últimamente."],
    ["Invitations waiting", "Invitations en attente", "Wartende Einladungen", "Invitaciones pendientes"],
    ["No game invitation is waiting for you.", "Aucune invitation à jouer ne vous attend.", "Keine Spieleinladung wartet auf dich.", "No tienes invitaciones a jugar pendientes."],
    ["Accept", "Accepter", "Annehmen", "Aceptar"],
    ["Decline", "Refuser", "Ablehnen", "Rechazar"],
    ["Your status for games", "Votre statut de jeu", "Dein Spielstatus", "Tu estado de juego"],
    ["What platforms you share with read, kept when you log out (empty: none)", "Ce que lisent les plateformes avec qui vous partagez, gardé quand vous vous déconnectez (vide : aucun)", "Was Plattformen lesen, mit denen du teilst, behalten, wenn du dich abmeldest (leer: keiner)", "Lo que leen las plataformas con las que compartes, guardado al desconectarte (vacío: ninguno)"],
    ["Save", "Enregistrer", "Speichern", "Guardar"],
    ["Nothing was asked.", "Rien n'a été demandé.", "Nichts wurde gefragt.", "No se pidió nada."],
    ["Done.", "Fait.", "Erledigt.", "Hecho."],
    ["Not here", "Pas ici", "Nicht hier", "No aquí"],
    ["This server has no privacy page.", "Ce serveur n'a pas de page de confidentialité.", "Dieser Server hat keine Datenschutzseite.", "Este servidor no tiene página de privacidad."],
    ["Your privacy page", "Votre page de confidentialité", "Deine Datenschutzseite", "Tu página de privacidad"],
    ["This page opens from a link the game bridge gives you. Say \"privacy link\" in a chat with it for a new one.", "Cette page s'ouvre depuis un lien que vous donne la passerelle de jeux. Dites « privacy link » dans une discussion avec elle pour en obtenir un.", "Diese Seite öffnet sich über einen Link, den dir die Spielbrücke gibt. Sag „privacy link“ im Chat mit ihr für einen neuen.", "Esta página se abre desde un enlace que te da el puente de juegos. Di «privacy link» en un chat con él para uno nuevo."],
    ["Not read", "Non lu", "Nicht gelesen", "No leído"],
    ["Not changed", "Non modifié", "Nicht geändert", "Sin cambios"],
    ["This form is not from your page. Open your page again and change it there.", "Ce formulaire ne vient pas de votre page. Rouvrez votre page et faites le changement là.", "Dieses Formular stammt nicht von deiner Seite. Öffne deine Seite erneut und ändere es dort.", "Este formulario no es de tu página. Vuelve a abrir tu página y cámbialo allí."],
    ["Not allowed", "Non permis", "Nicht erlaubt", "No permitido"],
    ["The page is read with GET and changed with its buttons.", "La page se lit avec GET et se modifie avec ses boutons.", "Die Seite wird mit GET gelesen und mit ihren Knöpfen geändert.", "La página se lee con GET y se cambia con sus botones."],
    ["This link does not open", "Ce lien ne s'ouvre pas", "Dieser Link öffnet nichts", "Este enlace no se abre"],
    ["Say \"privacy link\" in a chat with the game bridge for a new one.", "Dites « privacy link » dans une discussion avec la passerelle de jeux pour en obtenir un nouveau.", "Sag „privacy link“ im Chat mit der Spielbrücke für einen neuen.", "Di «privacy link» en un chat con el puente de juegos para uno nuevo."],
    ["This link has expired: links last 10 minutes.", "Ce lien a expiré : les liens durent 10 minutes.", "Dieser Link ist abgelaufen: Links gelten 10 Minuten.", "Este enlace caducó: los enlaces duran 10 minutos."],
    ["This is not a link the game bridge gave, or it gave it before it restarted.", "Ce n'est pas un lien donné par la passerelle de jeux, ou elle l'a donné avant de redémarrer.", "Diesen Link hat die Spielbrücke nicht gegeben, oder sie gab ihn vor ihrem Neustart.", "Este no es un enlace que diera el puente de juegos, o lo dio antes de reiniciarse."],
    ["The page cannot open right now.", "La page ne peut pas s'ouvrir pour le moment.", "Die Seite kann gerade nicht öffnen.", "La página no puede abrirse ahora."],
    ["This link was used already: each opens the page once.", "Ce lien a déjà servi : chacun ouvre la page une seule fois.", "Dieser Link wurde schon benutzt: jeder öffnet die Seite einmal.", "Este enlace ya se usó: cada uno abre la página una vez."],
    ["Too many pages are open right now; try again in a few minutes.", "Trop de pages sont ouvertes en ce moment ; réessayez dans quelques minutes.", "Gerade sind zu viele Seiten offen; versuch es in ein paar Minuten wieder.", "Hay demasiadas páginas abiertas ahora; inténtalo en unos minutos."],
];

/// `english`, one of the privacy page's words, in `lang` (as it is when not found).
pub fn page_text(lang: Lang, english: &str) -> &str {
    PAGE_TEXTS
        .iter()
        .find(|row| row[0] == english)
        .map_or(english, |row| row[lang as usize])
}

/// The English texts of users' forms, each in the other languages.
pub const FORM_TEXTS: &[[&str; 4]] = &[
    ["Your privacy", "Votre confidentialité", "Deine Privatsphäre", "Tu privacidad"],
    ["Choose who may see when you are available and whom you are chatting with. Leave both empty to see what you share now and who looked.",
     "Choisissez qui peut voir quand vous êtes disponible et avec qui vous discutez. Laissez les deux vides pour voir ce que vous partagez et qui a regardé.",
     "Wähle, wer sehen darf, wann du erreichbar bist und mit wem du chattest. Lass beides leer, um zu sehen, was du teilst und wer geschaut hat.",
     "Elige quién puede ver cuándo estás disponible y con quién chateas. Deja ambos vacíos para ver qué compartes y quién miró."],
    ["Share with", "Partager avec", "Teilen mit", "Compartir con"],
    ["Stop sharing with", "Ne plus partager avec", "Nicht mehr teilen mit", "Dejar de compartir con"],
    ["Every platform", "Toutes les plateformes", "Jede Plattform", "Todas las plataformas"],
    ["No platform", "Aucune plateforme", "Keine Plattform", "Ninguna plataforma"],
    ["No change", "Pas de changement", "Keine Änderung", "Sin cambios"],
    ["Your status for games", "Votre statut de jeu", "Dein Spielstatus", "Tu estado de juego"],
    ["A line the platforms you share with read, kept when you log out. Leave it empty to clear it. Where your client takes words one by one (Profanity's /field1), put the line in quotes: \"Up for chess after 8\". Or say it in the chat: status Up for chess after 8.",
     "Une ligne que lisent les plateformes avec qui vous partagez, gardée quand vous vous déconnectez. Laissez-la vide pour l'effacer. Si votre client prend les mots un par un (/field1 de Profanity), mettez la ligne entre guillemets : \"Partant pour les échecs après 20 h\". Ou dites-le dans le chat : status Partant pour les échecs après 20 h.",
     "Eine Zeile, die Plattformen lesen, mit denen du teilst, behalten, wenn du dich abmeldest. Leer lassen, um sie zu löschen. Nimmt dein Client Wörter einzeln (/field1 in Profanity), setze die Zeile in Anführungszeichen: \"Schach nach 20 Uhr\". Oder sag es im Chat: status Schach nach 20 Uhr.",
     "Una línea que leen las plataformas con las que compartes, guardada al desconectarte. Déjala vacía para borrarla. Si tu cliente toma las palabras una a una (/field1 de Profanity), pon la línea entre comillas: \"Ajedrez después de las 20\". O dilo en el chat: status Ajedrez después de las 20."],
    ["Status", "Statut", "Status", "Estado"],
    ["Answer", "Répondre", "Antworten", "Responder"],
    ["The id of the invitation or question, from its message, and your answer.",
     "L'id de l'invitation ou de la question, tiré de son message, et votre réponse.",
     "Die id der Einladung oder Frage aus ihrer Nachricht, und deine Antwort.",
     "El id de la invitación o pregunta, de su mensaje, y tu respuesta."],
    ["Id", "Id", "Id", "Id"],
    ["Your answer", "Votre réponse", "Deine Antwort", "Tu respuesta"],
    ["Yes (accept)", "Oui (accepter)", "Ja (annehmen)", "Sí (aceptar)"],
    ["No (decline)", "Non (refuser)", "Nein (ablehnen)", "No (rechazar)"],
    ["Game invitations", "Invitations à jouer", "Spieleinladungen", "Invitaciones a jugar"],
    ["Pick an invitation and answer it.", "Choisissez une invitation et répondez-y.", "Wähle eine Einladung und beantworte sie.", "Elige una invitación y respóndela."],
    ["Invitation", "Invitation", "Einladung", "Invitación"],
    ["Mute game invitations", "Mettre les invitations en sourdine", "Spieleinladungen stummschalten", "Silenciar invitaciones a jugar"],
    ["From whom (left empty: from anyone).", "De qui (vide : de tout le monde).", "Von wem (leer: von allen).", "De quién (vacío: de cualquiera)."],
    ["From", "De", "Von", "De"],
    ["Mute (untick to unmute)", "Sourdine (décochez pour la retirer)", "Stumm (abwählen, um es aufzuheben)", "Silenciar (desmarca para quitarlo)"],
    // The answers' titles and labels.
    ["Platforms that see you", "Plateformes qui vous voient", "Plattformen, die dich sehen", "Plataformas que te ven"],
    ["Platforms that do not", "Plateformes qui ne vous voient pas", "Plattformen, die dich nicht sehen", "Plataformas que no te ven"],
    ["Other platforms", "Autres plateformes", "Andere Plattformen", "Otras plataformas"],
    ["What changed", "Ce qui a changé", "Was sich geändert hat", "Qué cambió"],
    ["Game invitations muted from (* for everyone)", "Invitations à jouer en sourdine venant de (* : tout le monde)", "Spieleinladungen stummgeschaltet von (*: allen)", "Invitaciones a jugar silenciadas de (*: todos)"],
    ["Invitations", "Invitations", "Einladungen", "Invitaciones"],
    ["Set", "Défini", "Gesetzt", "Fijado"],
    ["Set by", "Défini par", "Gesetzt von", "Fijado por"],
    ["Result", "Résultat", "Ergebnis", "Resultado"],
    ["Mute", "Sourdine", "Stummschalten", "Silenciar"],
];

/// `english`, one of the users' form texts, in `lang`.
/// (The privacy page's words serve the answers that say the same.)
pub fn form_text(lang: Lang, english: &str) -> Option<&'static str> {
    FORM_TEXTS
        .iter()
        .chain(PAGE_TEXTS)
        .find(|row| row[0] == english)
        .map(|row| row[lang as usize])
}

/// The first line of `help`; the words follow, one per line, then [`help_tail`].
pub fn help_head(lang: Lang) -> &'static str {
    match lang {
        Lang::En => "I am the game bridge. You can say:",
        Lang::Fr => "Je suis la passerelle de jeux. Vous pouvez dire :",
        Lang::De => "Ich bin die Spielbrücke. Du kannst sagen:",
        Lang::Es => "Soy el puente de juegos. Puedes decir:",
    }
}

pub fn help_tail(lang: Lang) -> &'static str {
    match lang {
        Lang::En => "help: this list",
        Lang::Fr => "help : cette liste",
        Lang::De => "help: diese Liste",
        Lang::Es => "help: esta lista",
    }
}

/// A platform the user named that is not one here (`names`: those that are).
pub fn no_such_platform(lang: Lang, word: &str, names: &[&str]) -> String {
    let list = if names.is_empty() {
        match lang {
            Lang::En => "none yet".to_owned(),
            Lang::Fr => "aucune pour l'instant".to_owned(),
            Lang::De => "noch keine".to_owned(),
            Lang::Es => "ninguna todavía".to_owned(),
        }
    } else {
        names.join(", ")
    };
    match lang {
        Lang::En => format!("there is no platform called {word} here; the platforms are: {list}"),
        Lang::Fr => {
            format!("il n'y a pas de plateforme appelée {word} ici ; les plateformes sont : {list}")
        }
        Lang::De => {
            format!("hier gibt es keine Plattform namens {word}; die Plattformen sind: {list}")
        }
        Lang::Es => {
            format!("aquí no hay ninguna plataforma llamada {word}; las plataformas son: {list}")
        }
    }
}

/// How long ago something happened, `secs` seconds before now.
pub fn ago(lang: Lang, secs: u32) -> String {
    let (m, h, d) = (secs / 60, secs / 3600, secs / 86_400);
    match lang {
        Lang::En => match secs {
            0..60 => "just now".to_owned(),
            60..3600 => format!("{m} min ago"),
            3600..86_400 => format!("{h} h ago"),
            86_400..172_800 => "yesterday".to_owned(),
            _ => format!("{d} days ago"),
        },
        Lang::Fr => match secs {
            0..60 => "à l'instant".to_owned(),
            60..3600 => format!("il y a {m} min"),
            3600..86_400 => format!("il y a {h} h"),
            86_400..172_800 => "hier".to_owned(),
            _ => format!("il y a {d} jours"),
        },
        Lang::De => match secs {
            0..60 => "gerade eben".to_owned(),
            60..3600 => format!("vor {m} Min."),
            3600..86_400 => format!("vor {h} Std."),
            86_400..172_800 => "gestern".to_owned(),
            _ => format!("vor {d} Tagen"),
        },
        Lang::Es => match secs {
            0..60 => "hace un momento".to_owned(),
            60..3600 => format!("hace {m} min"),
            3600..86_400 => format!("hace {h} h"),
            86_400..172_800 => "ayer".to_owned(),
            _ => format!("hace {d} días"),
        },
    }
}

/// What a platform learnt or did, in plain words, by the command it ran (`node`).
pub fn learnt(lang: Lang, node: &str) -> String {
    let words = match (lang, node) {
        (Lang::En, "peers") => "saw whom you chat with",
        (Lang::En, "status") => "saw your status",
        (Lang::En, "invite") => "sent you an invitation",
        (Lang::En, "pending" | "invite-status") => "saw your game invitations",
        (Lang::En, "session-started" | "session-ended" | "invite-cancel") => "saw you in a game",
        (Lang::En, "set-status") => "set your status for games",
        (Lang::En, "publish-gaming") => "published what you play",
        (Lang::En, "open-url") => "opened a link for you",
        (Lang::En, "send-message") => "sent you a message",
        (Lang::En, "attention") => "asked for your attention",
        (Lang::En, "launch") => "started a game for you",
        (Lang::En, "request-consent") => "asked you to share",
        (Lang::En, _) => return format!("used \"{node}\""),
        (Lang::Fr, "peers") => "a vu avec qui vous discutez",
        (Lang::Fr, "status") => "a vu votre statut",
        (Lang::Fr, "invite") => "vous a envoyé une invitation",
        (Lang::Fr, "pending" | "invite-status") => "a vu vos invitations à jouer",
        (Lang::Fr, "session-started" | "session-ended" | "invite-cancel") => {
            "vous a vu dans une partie"
        }
        (Lang::Fr, "set-status") => "a réglé votre statut de jeu",
        (Lang::Fr, "publish-gaming") => "a publié à quoi vous jouez",
        (Lang::Fr, "open-url") => "vous a ouvert un lien",
        (Lang::Fr, "send-message") => "vous a envoyé un message",
        (Lang::Fr, "attention") => "a demandé votre attention",
        (Lang::Fr, "launch") => "a lancé un jeu pour vous",
        (Lang::Fr, "request-consent") => "vous a demandé de partager",
        (Lang::Fr, _) => return format!("a utilisé « {node} »"),
        (Lang::De, "peers") => "hat gesehen, mit wem du chattest",
        (Lang::De, "status") => "hat deinen Status gesehen",
        (Lang::De, "invite") => "hat dir eine Einladung geschickt",
        (Lang::De, "pending" | "invite-status") => "hat deine Spieleinladungen gesehen",
        (Lang::De, "session-started" | "session-ended" | "invite-cancel") => {
            "hat dich in einem Spiel gesehen"
        }
        (Lang::De, "set-status") => "hat deinen Spielstatus gesetzt",
        (Lang::De, "publish-gaming") => "hat veröffentlicht, was du spielst",
        (Lang::De, "open-url") => "hat dir einen Link geöffnet",
        (Lang::De, "send-message") => "hat dir eine Nachricht geschickt",
        (Lang::De, "attention") => "hat um deine Aufmerksamkeit gebeten",
        (Lang::De, "launch") => "hat ein Spiel für dich gestartet",
        (Lang::De, "request-consent") => "hat dich gebeten zu teilen",
        (Lang::De, _) => return format!("hat „{node}“ benutzt"),
        (Lang::Es, "peers") => "vio con quién chateas",
        (Lang::Es, "status") => "vio tu estado",
        (Lang::Es, "invite") => "te envió una invitación",
        (Lang::Es, "pending" | "invite-status") => "vio tus invitaciones a jugar",
        (Lang::Es, "session-started" | "session-ended" | "invite-cancel") => {
            "te vio en una partida"
        }
        (Lang::Es, "set-status") => "puso tu estado de juego",
        (Lang::Es, "publish-gaming") => "publicó a qué juegas",
        (Lang::Es, "open-url") => "te abrió un enlace",
        (Lang::Es, "send-message") => "te envió un mensaje",
        (Lang::Es, "attention") => "pidió tu atención",
        (Lang::Es, "launch") => "inició un juego para ti",
        (Lang::Es, "request-consent") => "te pidió compartir",
        (Lang::Es, _) => return format!("usó «{node}»"),
    };
    words.to_owned()
}

/// One line of the history: `platform` (its name) learnt something (from [`learnt`]),
/// `when` (from [`ago`]).
pub fn history_line(platform: &str, learnt: &str, when: &str) -> String {
    format!("{platform} {learnt}, {when}")
}

/// Who looked at a user lately (`lines` from [`history_line`], newest first); `more`:
/// how many entries to ask for to see older ones, if there are older ones.
pub fn history(lang: Lang, lines: &[String], more: Option<u32>) -> String {
    if lines.is_empty() {
        return match lang {
            Lang::En => "No platform looked at you lately.",
            Lang::Fr => "Aucune plateforme ne vous a regardé récemment.",
            Lang::De => "Keine Plattform hat dich in letzter Zeit angesehen.",
            Lang::Es => "Ninguna plataforma te ha mirado últimamente.",
        }
        .to_owned();
    }
    let mut text = match lang {
        Lang::En => "Who looked at you lately, newest first:",
        Lang::Fr => "Qui vous a regardé récemment, du plus récent au plus ancien :",
        Lang::De => "Wer dich zuletzt angesehen hat, neueste zuerst:",
        Lang::Es => "Quién te miró últimamente, lo más reciente primero:",
    }
    .to_owned();
    for line in lines {
        text.push_str("\n- ");
        text.push_str(line);
    }
    if let Some(n) = more {
        text.push('\n');
        text.push_str(&match lang {
            Lang::En => format!("Say \"history {n}\" to see more."),
            Lang::Fr => format!("Dites « history {n} » pour en voir plus."),
            Lang::De => format!("Sag „history {n}“, um mehr zu sehen."),
            Lang::Es => format!("Di «history {n}» para ver más."),
        });
    }
    text
}

/// What a user's `share`/`stop` did: `platform` is a name (`None`: every platform);
/// `already`: nothing changed.
pub fn shared(lang: Lang, platform: Option<&str>, share: bool, already: bool) -> String {
    match (lang, platform, share, already) {
        (Lang::En, None, true, false) => "Every platform may now see you. Say \"share none\" to undo.".to_owned(),
        (Lang::En, None, true, true) => "Every platform already sees you.".to_owned(),
        (Lang::En, None, false, false) => "No platform sees you now. Say \"share all\" to undo.".to_owned(),
        (Lang::En, None, false, true) => "Already, no platform sees you.".to_owned(),
        (Lang::En, Some(p), true, false) => format!("{p} may now see you. Say \"stop {p}\" to undo."),
        (Lang::En, Some(p), true, true) => format!("{p} already sees you."),
        (Lang::En, Some(p), false, false) => format!("{p} no longer sees you. Say \"share {p}\" to undo."),
        (Lang::En, Some(p), false, true) => format!("{p} already does not see you."),
        (Lang::Fr, None, true, false) => "Toutes les plateformes peuvent maintenant vous voir. Dites « share none » pour annuler.".to_owned(),
        (Lang::Fr, None, true, true) => "Toutes les plateformes vous voient déjà.".to_owned(),
        (Lang::Fr, None, false, false) => "Plus aucune plateforme ne vous voit. Dites « share all » pour annuler.".to_owned(),
        (Lang::Fr, None, false, true) => "Déjà, aucune plateforme ne vous voit.".to_owned(),
        (Lang::Fr, Some(p), true, false) => format!("{p} peut maintenant vous voir. Dites « stop {p} » pour annuler."),
        (Lang::Fr, Some(p), true, true) => format!("{p} vous voit déjà."),
        (Lang::Fr, Some(p), false, false) => format!("{p} ne vous voit plus. Dites « share {p} » pour annuler."),
        (Lang::Fr, Some(p), false, true) => format!("{p} ne vous voit déjà pas."),
        (Lang::De, None, true, false) => "Jede Plattform darf dich jetzt sehen. Sag „share none“, um es rückgängig zu machen.".to_owned(),
        (Lang::De, None, true, true) => "Jede Plattform sieht dich schon.".to_owned(),
        (Lang::De, None, false, false) => "Keine Plattform sieht dich mehr. Sag „share all“, um es rückgängig zu machen.".to_owned(),
        (Lang::De, None, false, true) => "Schon jetzt sieht dich keine Plattform.".to_owned(),
        (Lang::De, Some(p), true, false) => format!("{p} darf dich jetzt sehen. Sag „stop {p}“, um es rückgängig zu machen."),
        (Lang::De, Some(p), true, true) => format!("{p} sieht dich schon."),
        (Lang::De, Some(p), false, false) => format!("{p} sieht dich nicht mehr. Sag „share {p}“, um es rückgängig zu machen."),
        (Lang::De, Some(p), false, true) => format!("{p} sieht dich schon jetzt nicht."),
        (Lang::Es, None, true, false) => "Todas las plataformas pueden verte ahora. Di «share none» para deshacerlo.".to_owned(),
        (Lang::Es, None, true, true) => "Todas las plataformas ya te ven.".to_owned(),
        (Lang::Es, None, false, false) => "Ninguna plataforma te ve ahora. Di «share all» para deshacerlo.".to_owned(),
        (Lang::Es, None, false, true) => "Ya ninguna plataforma te ve.".to_owned(),
        (Lang::Es, Some(p), true, false) => format!("{p} ya puede verte. Di «stop {p}» para deshacerlo."),
        (Lang::Es, Some(p), true, true) => format!("{p} ya te ve."),
        (Lang::Es, Some(p), false, false) => format!("{p} ya no te ve. Di «share {p}» para deshacerlo."),
        (Lang::Es, Some(p), false, true) => format!("{p} ya no te veía."),
    }
}

/// What platforms outside the lists are: the user's choice for every platform, or the
/// operator's rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Others {
    /// The user shares with every platform (`true`) or none.
    Chosen(bool),
    /// The operator's rule: shared unless the user says stop (`true`), or not.
    Rule(bool),
}

/// What platforms outside the lists are, in a sentence.
pub fn others_text(lang: Lang, others: Others) -> &'static str {
    match (lang, others) {
        (Lang::En, Others::Chosen(true)) => "Others see you too: you share with every platform.",
        (Lang::En, Others::Chosen(false)) => "Others do not see you: you share with no platform.",
        (Lang::En, Others::Rule(true)) => {
            "Others see you unless you say \"stop\" (the operator's rule)."
        }
        (Lang::En, Others::Rule(false)) => {
            "Others do not see you unless you say \"share\" (the operator's rule)."
        }
        (Lang::Fr, Others::Chosen(true)) => {
            "Les autres vous voient aussi : vous partagez avec toutes les plateformes."
        }
        (Lang::Fr, Others::Chosen(false)) => {
            "Les autres ne vous voient pas : vous ne partagez avec aucune plateforme."
        }
        (Lang::Fr, Others::Rule(true)) => {
            "Les autres vous voient sauf si vous dites « stop » (la règle de l'opérateur)."
        }
        (Lang::Fr, Others::Rule(false)) => {
            "Les autres ne vous voient pas sauf si vous dites « share » (la règle de l'opérateur)."
        }
        (Lang::De, Others::Chosen(true)) => {
            "Andere sehen dich auch: du teilst mit jeder Plattform."
        }
        (Lang::De, Others::Chosen(false)) => {
            "Andere sehen dich nicht: du teilst mit keiner Plattform."
        }
        (Lang::De, Others::Rule(true)) => {
            "Andere sehen dich, außer du sagst „stop“ (die Regel des Betreibers)."
        }
        (Lang::De, Others::Rule(false)) => {
            "Andere sehen dich nicht, außer du sagst „share“ (die Regel des Betreibers)."
        }
        (Lang::Es, Others::Chosen(true)) => {
            "Las demás también te ven: compartes con todas las plataformas."
        }
        (Lang::Es, Others::Chosen(false)) => {
            "Las demás no te ven: no compartes con ninguna plataforma."
        }
        (Lang::Es, Others::Rule(true)) => {
            "Las demás te ven salvo que digas «stop» (la regla del operador)."
        }
        (Lang::Es, Others::Rule(false)) => {
            "Las demás no te ven salvo que digas «share» (la regla del operador)."
        }
    }
}

/// A user's privacy at a glance: who sees them, who does not, the others, mutes, and
/// where the history is.
pub fn privacy(
    lang: Lang,
    sharing: &[String],
    not_sharing: &[String],
    others: Others,
    muted: &[String],
) -> String {
    let list = |names: &[String]| {
        if names.is_empty() {
            match lang {
                Lang::En => "none".to_owned(),
                Lang::Fr => "aucune".to_owned(),
                Lang::De => "keine".to_owned(),
                Lang::Es => "ninguna".to_owned(),
            }
        } else {
            names.join(", ")
        }
    };
    let (yes, no) = (list(sharing), list(not_sharing));
    let mut text = match lang {
        Lang::En => format!("Platforms that see you: {yes}. Platforms that do not: {no}."),
        Lang::Fr => {
            format!("Plateformes qui vous voient : {yes}. Celles qui ne vous voient pas : {no}.")
        }
        Lang::De => format!("Plattformen, die dich sehen: {yes}. Die dich nicht sehen: {no}."),
        Lang::Es => format!("Plataformas que te ven: {yes}. Las que no: {no}."),
    };
    text.push('\n');
    text.push_str(others_text(lang, others));
    if !muted.is_empty() {
        text.push('\n');
        let everyone = muted.iter().any(|m| m == "*");
        text.push_str(&match (lang, everyone) {
            (Lang::En, true) => "Game invitations: muted. Say \"unmute\" to undo.".to_owned(),
            (Lang::En, false) => format!(
                "Game invitations muted from: {}. Say \"unmute\" to undo.",
                muted.join(", ")
            ),
            (Lang::Fr, true) => {
                "Invitations à jouer : en sourdine. Dites « unmute » pour annuler.".to_owned()
            }
            (Lang::Fr, false) => format!(
                "Invitations en sourdine de : {}. Dites « unmute » pour annuler.",
                muted.join(", ")
            ),
            (Lang::De, true) => {
                "Spieleinladungen: stummgeschaltet. Sag „unmute“, um es rückgängig zu machen."
                    .to_owned()
            }
            (Lang::De, false) => format!(
                "Einladungen stummgeschaltet von: {}. Sag „unmute“, um es rückgängig zu machen.",
                muted.join(", ")
            ),
            (Lang::Es, true) => {
                "Invitaciones a jugar: silenciadas. Di «unmute» para deshacerlo.".to_owned()
            }
            (Lang::Es, false) => format!(
                "Invitaciones silenciadas de: {}. Di «unmute» para deshacerlo.",
                muted.join(", ")
            ),
        });
    }
    text.push('\n');
    text.push_str(match lang {
        Lang::En => "Say \"history\" to see who looked at you.",
        Lang::Fr => "Dites « history » pour voir qui vous a regardé.",
        Lang::De => "Sag „history“, um zu sehen, wer dich angesehen hat.",
        Lang::Es => "Di «history» para ver quién te miró.",
    });
    text
}

/// `HH:MM` (UTC) of a time in seconds since the Unix epoch.
pub fn clock(secs: u32) -> String {
    let day = secs % 86_400;
    format!("{:02}:{:02}", day / 3600, day % 3600 / 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_choose_a_language_and_fall_back_to_english() {
        assert_eq!(Lang::from_tag("fr"), Lang::Fr);
        assert_eq!(Lang::from_tag("de-AT"), Lang::De);
        assert_eq!(Lang::from_tag("ES_mx"), Lang::Es);
        assert_eq!(Lang::from_tag("ja"), Lang::En);
        assert_eq!(Lang::from_tag(""), Lang::En);
        for lang in [Lang::En, Lang::Fr, Lang::De, Lang::Es] {
            assert_eq!(Lang::from_index(lang as u8), lang);
            assert_eq!(Lang::from_tag(lang.tag()), lang);
        }
    }

    const ALL: [Lang; 4] = [Lang::En, Lang::Fr, Lang::De, Lang::Es];

    /// Each text in every language.
    fn each(text: impl Fn(Lang) -> String) -> Vec<String> {
        ALL.iter().map(|l| text(*l)).collect()
    }

    /// Every text, in every language: each written, and none left in English where
    /// another language is asked for. A text added for English alone fails here.
    #[test]
    fn every_text_is_written_in_every_language() {
        let invitation_text = |l| {
            invitation(
                l,
                &Invitation {
                    host: "h",
                    game: "g",
                    platform: "p",
                    id: "1",
                    minutes: 5,
                    until: "10:00",
                    join_uri: Some("https://x"),
                },
            )
        };
        let consent = |l| {
            consent_request(
                l,
                &ConsentRequest {
                    platform: "p",
                    reason: Some("r"),
                    id: "1",
                    days: 7,
                },
            )
        };
        let mut cases: Vec<(String, Vec<String>)> = vec![
            ("invitation".into(), each(invitation_text)),
            (
                "invitation_title".into(),
                each(|l| invitation_title(l, "h", "g")),
            ),
            (
                "accept_decline".into(),
                each(|l| format!("{:?}", accept_decline(l))),
            ),
            ("your_answer".into(), each(|l| your_answer(l).to_owned())),
            ("not_now".into(), each(|l| not_now(l).to_owned())),
            (
                "still_waiting".into(),
                each(|l| still_waiting(l, "1", "yes", "no")),
            ),
            ("consent_request".into(), each(consent)),
            ("consent_title".into(), each(|l| consent_title(l, "p"))),
            (
                "share_or_not".into(),
                each(|l| format!("{:?}", share_or_not(l, "p"))),
            ),
            (
                "consent_answered yes".into(),
                each(|l| consent_answered(l, true, "p")),
            ),
            (
                "consent_answered no".into(),
                each(|l| consent_answered(l, false, "p")),
            ),
            (
                "answered yes".into(),
                each(|l| answered(l, true, "h", "g", None)),
            ),
            (
                "answered no".into(),
                each(|l| answered(l, false, "h", "g", None)),
            ),
            (
                "page_link".into(),
                each(|l| page_link(l, Some("https://x"), 10)),
            ),
            ("page_link off".into(), each(|l| page_link(l, None, 10))),
            (
                "suggests_page".into(),
                each(|l| suggests_page(l, "p", None, "https://x")),
            ),
            (
                "asks_attention".into(),
                each(|l| asks_attention(l, "p", None)),
            ),
            (
                "asks_launch".into(),
                each(|l| asks_launch(l, "p", None, "x:y")),
            ),
            (
                "waiting_question".into(),
                each(|l| waiting_question(l, "yes", "1", "p")),
            ),
            (
                "not_understood".into(),
                each(|l| not_understood(l, Some("w"))),
            ),
            (
                "not_understood long".into(),
                each(|l| not_understood(l, None)),
            ),
            ("help_head".into(), each(|l| help_head(l).to_owned())),
            ("help_tail".into(), each(|l| help_tail(l).to_owned())),
            (
                "no_such_platform".into(),
                each(|l| no_such_platform(l, "w", &[])),
            ),
            (
                "history".into(),
                each(|l| history(l, &["x".to_owned()], Some(50))),
            ),
            ("history empty".into(), each(|l| history(l, &[], None))),
            (
                "privacy".into(),
                each(|l| privacy(l, &[], &[], Others::Rule(false), &["*".to_owned()])),
            ),
            ("waiting".into(), each(|l| waiting(l, &[]))),
            (
                "waiting_line".into(),
                each(|l| waiting_line(l, "h", "g", "1")),
            ),
            ("waiting_list".into(), each(|l| waiting_list(l, &[]))),
            ("muted".into(), each(|l| muted(l, true, None))),
        ];
        // Every word help lists, its usage: none falls back to the bare word.
        for def in crate::commands::NODES {
            for word in def.words.iter().filter(|w| w.listed) {
                let texts = each(|l| usage(l, word.word));
                assert_ne!(texts[0], word.word, "no usage for {}", word.word);
                cases.push((format!("usage {}", word.word), texts));
            }
        }
        for secs in [0, 120, 7200, 90_000, 400_000] {
            cases.push((format!("ago {secs}"), each(|l| ago(l, secs))));
        }
        for node in [
            "peers",
            "status",
            "invite",
            "pending",
            "session-ended",
            "set-status",
            "publish-gaming",
            "open-url",
            "send-message",
            "attention",
            "launch",
            "request-consent",
            "other",
        ] {
            cases.push((format!("learnt {node}"), each(|l| learnt(l, node))));
        }
        for share in [true, false] {
            for already in [true, false] {
                for platform in [None, Some("p")] {
                    cases.push((
                        format!("shared {platform:?} {share} {already}"),
                        each(|l| shared(l, platform, share, already)),
                    ));
                }
            }
        }
        for others in [
            Others::Chosen(true),
            Others::Chosen(false),
            Others::Rule(true),
            Others::Rule(false),
        ] {
            cases.push((
                format!("{others:?}"),
                each(|l| others_text(l, others).to_owned()),
            ));
        }
        cases.push((
            "my_status set".into(),
            each(|l| my_status(l, StatusNow::Set("s"))),
        ));
        cases.push((
            "my_status cleared".into(),
            each(|l| my_status(l, StatusNow::Cleared)),
        ));
        cases.push((
            "my_status is".into(),
            each(|l| my_status(l, StatusNow::Is("s", "b", "w"))),
        ));
        cases.push((
            "my_status none".into(),
            each(|l| my_status(l, StatusNow::None)),
        ));
        cases.push((
            "unknown".into(),
            each(|l| question_closed(l, QuestionClosed::Unknown("1"))),
        ));
        cases.push((
            "answering".into(),
            each(|l| question_closed(l, QuestionClosed::Answering("1"))),
        ));
        cases.push((
            "expired".into(),
            each(|l| question_closed(l, QuestionClosed::Expired("1", "p"))),
        ));
        cases.push((
            "answered".into(),
            each(|l| question_closed(l, QuestionClosed::Answered("1", "yes"))),
        ));
        for why in [
            Closed::Expired,
            Closed::Cancelled,
            Closed::Started,
            Closed::Full,
            Closed::Answered(true),
        ] {
            cases.push((
                format!("closed {why:?}"),
                each(|l| closed(l, why, "h", "g", "1")),
            ));
        }
        for news in [
            HostNews::Accepted,
            HostNews::Declined,
            HostNews::Full,
            HostNews::Alone,
            HostNews::DeclinedAlone,
            HostNews::Cancelled,
        ] {
            cases.push((
                format!("to_host {news:?}"),
                each(|l| to_host(l, news, "i", "g")),
            ));
        }
        for row in PAGE_TEXTS.iter().chain(FORM_TEXTS) {
            if row[0] != "Id" {
                cases.push((
                    row[0].to_owned(),
                    row.iter().map(|t| t.to_string()).collect(),
                ));
            }
        }
        for (name, texts) in &cases {
            for (lang, text) in ALL.iter().zip(texts) {
                assert!(!text.trim().is_empty(), "{name}: nothing in {lang:?}");
                // Words that are the same in both languages.
                let same = matches!(
                    (name.as_str(), lang),
                    ("Status", Lang::De) | ("Invitation" | "Invitations", Lang::Fr)
                );
                if *lang != Lang::En && !same {
                    assert_ne!(text, &texts[0], "{name}: {lang:?} is still English");
                }
            }
        }
    }

    #[test]
    fn every_invitation_says_how_to_answer_and_never_is_only_a_link() {
        for lang in [Lang::En, Lang::Fr, Lang::De, Lang::Es] {
            let text = invitation(
                lang,
                &Invitation {
                    host: "alice@example.test",
                    game: "Chess",
                    platform: "Arcade",
                    id: "7f3a01",
                    minutes: 10,
                    until: &clock(66_600),
                    join_uri: Some("https://play.example.test/j/1"),
                },
            );
            for piece in [
                "alice@example.test",
                "Chess",
                "accept 7f3a01",
                "decline 7f3a01",
                "18:30",
                "https://play.example.test/j/1",
            ] {
                assert!(
                    text.contains(piece),
                    "{lang:?}: {piece} missing from {text}"
                );
            }
        }
    }
}
