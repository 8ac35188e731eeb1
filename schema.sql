-- The xmpp-game-bridge database schema.
--
-- This file is the truth, and it is append-only: each "-- migration N: ..." section moves
-- a database from version N-1 to N (recorded in PRAGMA user_version). The component
-- applies, in one transaction, every section newer than the database at start. Never edit
-- a section that has been released; add a new one below.
--
-- Presence lives in memory; what is here must survive restarts.

-- migration 1: component metadata
CREATE TABLE meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) STRICT;

-- migration 2: last seen
-- When each user was last seen going offline, written in batches. Lets the status
-- command answer for users who are offline, across restarts.
CREATE TABLE last_seen (
    jid     TEXT PRIMARY KEY NOT NULL,  -- bare JID
    seen_at INTEGER NOT NULL            -- seconds since the Unix epoch
) STRICT;

-- migration 3: platforms
-- The registry of game platforms, managed with `xmpp-game-bridge platform ...` (also
-- while the bridge runs) and seeded from the configuration.
CREATE TABLE platform (
    jid        TEXT PRIMARY KEY NOT NULL,  -- bare JID
    name       TEXT NOT NULL,              -- what users read
    authorized INTEGER NOT NULL CHECK (authorized IN (0, 1)),
    rights     TEXT,                       -- comma-separated; NULL: the defaults of its kind
    domains    TEXT,                       -- served domains it may ask about; NULL: all
    launch_schemes TEXT,                   -- URI schemes its "launch" may use; NULL: none
    created_at INTEGER NOT NULL,           -- seconds since the Unix epoch
    updated_at INTEGER NOT NULL
) STRICT;

-- Tokens: only the SHA-256 of each secret is kept.
CREATE TABLE platform_token (
    id         TEXT PRIMARY KEY NOT NULL,  -- public part, 8 hex digits
    platform   TEXT NOT NULL REFERENCES platform (jid) ON DELETE CASCADE,
    hash       BLOB NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX platform_token_by_platform ON platform_token (platform);

-- migration 4: consent, self-defined status and the disclosure record
-- What each user lets platforms see. platform is a platform's bare JID, or '*' for a
-- choice about every platform; a choice for one platform wins over '*'.
CREATE TABLE consent (
    user     TEXT NOT NULL,              -- bare JID
    platform TEXT NOT NULL,
    share    INTEGER NOT NULL CHECK (share IN (0, 1)),
    at       INTEGER NOT NULL,           -- seconds since the Unix epoch
    PRIMARY KEY (user, platform)
) STRICT, WITHOUT ROWID;

-- A status a user (or an authorized platform) set, kept after logout.
CREATE TABLE self_status (
    user   TEXT PRIMARY KEY NOT NULL,    -- bare JID
    text   TEXT NOT NULL,
    set_by TEXT NOT NULL,                -- the user's bare JID, or the platform's
    set_at INTEGER NOT NULL
) STRICT;

-- Every disclosure to a platform and every right it executed: which platform, about
-- which user, when, through which command. Rows are appended in time order, so pruning
-- by age (privacy.audit_days) deletes a prefix by rowid, without an index on time.
CREATE TABLE audit (
    at       INTEGER NOT NULL,
    platform TEXT NOT NULL,
    user     TEXT NOT NULL,
    command  TEXT NOT NULL
) STRICT;
CREATE INDEX audit_by_user ON audit (user, at);

-- Questions put to users in their chat client (a platform's consent request), each
-- answered once: by a reply word, a command, or the form in the message.
CREATE TABLE prompt (
    id          TEXT PRIMARY KEY NOT NULL,  -- short, unique
    kind        TEXT NOT NULL,              -- 'consent'
    user        TEXT NOT NULL,              -- bare JID of who is asked
    platform    TEXT NOT NULL,              -- bare JID of the platform asking
    notify      TEXT NOT NULL,              -- JID told of the answer
    reason      TEXT,                       -- the platform's words, if any
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    answer      TEXT,                       -- NULL while pending; 'yes', 'no' or 'expired'
    answered_at INTEGER
) STRICT;
CREATE INDEX prompt_by_user ON prompt (user, platform, created_at);

-- migration 5: game invites
-- An invite: a host asks invitees (each one a row of prompt, kind 'invite') to join a
-- session on a platform. Its outcome follows from its state and its invitees' answers.
CREATE TABLE invite (
    id          TEXT PRIMARY KEY NOT NULL,  -- short, unique; shared with no prompt
    platform    TEXT NOT NULL,              -- bare JID of the platform
    notify      TEXT NOT NULL,              -- JID told of answers and outcomes
    host        TEXT NOT NULL,              -- bare JID of the inviting user
    game        TEXT NOT NULL,
    session     TEXT NOT NULL,              -- the platform's own session id
    join_uri    TEXT,
    max_players INTEGER,                    -- the host included; NULL: no limit
    sent        INTEGER NOT NULL,           -- invitation messages it sent (per-host rate)
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    state       TEXT NOT NULL,              -- 'open', 'started', 'ended' or 'cancelled'
    changed_at  INTEGER NOT NULL
) STRICT;
-- By age: the last hour's invitations per host are counted at start (the per-host
-- rate), and old invites are pruned. Appends, as invites are made in time order.
CREATE INDEX invite_by_time ON invite (created_at);

-- An invitee's prompt names its invite, the language its message was written in, when
-- the message was known to have left (NULL: perhaps not; sent again at start), and how
-- the answer came: 'chat' (the invitee's client), 'platform' (in the game) or 'merge'
-- (the invitee invited the host at the same time). Invite answers are 'yes', 'no',
-- 'expired', 'cancelled' or 'closed' (the session started or ended first).
ALTER TABLE prompt ADD COLUMN invite TEXT REFERENCES invite (id);
ALTER TABLE prompt ADD COLUMN lang TEXT;
ALTER TABLE prompt ADD COLUMN sent_at INTEGER;
ALTER TABLE prompt ADD COLUMN how TEXT;
CREATE INDEX prompt_by_invite ON prompt (invite) WHERE invite IS NOT NULL;
-- A user's no to a platform's consent request (it waits a week before asking again), and
-- the yes and no given to invitations, in time order (runs of declines are read back at
-- start, for the cooldown). Both only grow when such an answer is given, the second at
-- its end. They replace prompt_by_user, which every new prompt paid for.
CREATE INDEX prompt_consent_answers ON prompt (user, answered_at)
    WHERE kind = 'consent' AND answer IN ('yes', 'no');
CREATE INDEX prompt_invitation_answers ON prompt (answered_at)
    WHERE invite IS NOT NULL AND answer IN ('yes', 'no');
DROP INDEX prompt_by_user;

-- Users who do not want invites: from one host, or from anyone ('*').
CREATE TABLE mute (
    user TEXT NOT NULL,                     -- bare JID
    host TEXT NOT NULL,                     -- bare JID, or '*'
    at   INTEGER NOT NULL,
    PRIMARY KEY (user, host)
) STRICT, WITHOUT ROWID;

-- migration 6: answer shapes
-- The shape of answer a platform gets unless a request asks for another: 'form' (the
-- XEP-0004 data form) or 'compact' (one element per peer or user); NULL: 'form'.
ALTER TABLE platform ADD COLUMN answers TEXT;

-- migration 7: platforms outside the registry that asked
-- A platform that is not in the registry but may ask under the operator's policy (a JID
-- of a domain in access.trusted_domains, or anyone where access.public_platforms is on),
-- once it has asked: users see it in `privacy`, and share or stop sharing with it by its
-- JID. Written at most once a day per JID; pruned with the disclosure record.
CREATE TABLE asker (
    jid     TEXT PRIMARY KEY,               -- bare JID
    last_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- migration 8: front doors
-- The front doors a platform may ask through: 'xmpp' (ad-hoc commands), 'http' (JSON
-- with a bearer token), comma-separated; NULL: both.
ALTER TABLE platform ADD COLUMN doors TEXT;

-- migration 9: news outbox and webhooks
-- What the bridge tells a platform that asked over HTTP (see the news module): one row
-- per event, written in the transaction of the change it tells of, delivered to the
-- platform's webhook (if it has one) in id order, and read from its event stream.
-- thread: the invite or consent request it belongs to. delivered_at: when its webhook
-- took it (NULL: not yet, or no webhook); failed_at: when delivery was given up.
CREATE TABLE news (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    platform     TEXT NOT NULL,
    thread       TEXT NOT NULL,
    at           INTEGER NOT NULL,
    body         TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_at      INTEGER NOT NULL DEFAULT 0,
    delivered_at INTEGER,
    failed_at    INTEGER,
    last_error   TEXT
) STRICT;
CREATE INDEX news_by_platform ON news (platform, id);
-- A platform's webhook: where its news are delivered, and the secret they are signed
-- with (shown once, when set).
ALTER TABLE platform ADD COLUMN webhook_url TEXT;
ALTER TABLE platform ADD COLUMN webhook_secret TEXT;

-- migration 10: the leader's lease
-- Bridges sharing one database (PostgreSQL, on several machines) take turns: the one
-- holding this lease links to the chat server and writes; the others wait. The term
-- grows at each change of holder, and every write of the holder's checks it, so a
-- holder that was paused past its lease writes nothing once another took over.
-- expires_ms: milliseconds since the Unix epoch, by the database's clock.
CREATE TABLE lease (
    name       TEXT PRIMARY KEY NOT NULL,   -- 'leader'
    term       INTEGER NOT NULL,
    holder     TEXT NOT NULL,               -- host/pid/random of the bridge holding it
    expires_ms INTEGER NOT NULL
) STRICT;
