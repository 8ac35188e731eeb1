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
