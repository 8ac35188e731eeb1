-- Prosody 0.12: attach xmpp-game-bridge to your server.
--
-- Where this goes: copy this file to /etc/prosody/conf.d/xmpp-game-bridge.cfg.lua.
-- Debian's and Ubuntu's prosody.cfg.lua include conf.d/*.cfg.lua, and an included file
-- starts in the global section, so every line below lands where it belongs. Then replace
-- example.org, game.example.org and the secret, and restart Prosody (systemctl restart
-- prosody; a reload does not open new ports).
--
-- Pasting it into prosody.cfg.lua instead? Put the "Global options" part before the
-- first VirtualHost or Component line. After one, Prosody silently takes global options
-- as options of that host: it would keep listening on its default component port 5347,
-- whatever component_ports says.
--
-- Requires mod_privilege (XEP-0356) from prosody-modules (Debian: apt-get install
-- prosody-modules, installed in /usr/lib/prosody/modules, which Prosody searches).

---------- Global options ----------

-- The component port. XEP-0114 is unencrypted: listen on loopback only. The bridge's
-- server.port must say the same.
component_ports = { 5347 }
component_interfaces = { "127.0.0.1" }

-- Prosody's garbage collector. What a stanza costs Prosody is mostly Lua garbage
-- collection, and Prosody's default (a new cycle when the heap reaches 105% of what was
-- live, `{ threshold = 105; speed = 500 }`) collects almost without pause. Measured with
-- Prosody 0.12.3 (Lua 5.4), 1,000 users online, a platform asking `peers` about a user
-- with 20 active peers (scripts/side-by-side.sh; CPU of the Prosody process per answer,
-- the platform's p99 latency, Prosody's RSS at the end):
--
--                                              compact     data form   p99 (compact)  RSS
--   default                                    0.94 ms     3.66 ms     15.3 ms        49 MiB
--   { threshold = 200; speed = 200 }           0.41 ms     1.42 ms     1.3 ms         74 MiB
--   { threshold = 150; speed = 250 }           0.42 ms     1.56 ms     2.5 ms         61 MiB
--   { mode = "generational" }                  0.65 ms     1.38 ms     3.4 ms         78 MiB
--
-- The setting below halves the CPU of every stanza (an empty answer: 0.48 → 0.20 ms; an
-- operator's XEP-0133 query of who is online: 22 → 11 ms) and removes the pauses of 10–20
-- ms that default collection puts in one request in a hundred, for about half again the
-- heap. `{ threshold = 150; speed = 250 }` costs less memory for the same CPU. It is a
-- global option: a `gc` line elsewhere in prosody.cfg.lua (the later one wins) or a value
-- Prosody rejects ("Failed to apply GC configuration" in its log, while `prosodyctl check
-- config` still passes; Prosody then runs with Lua's own defaults) undoes it.
gc = { threshold = 200; speed = 200 }

-- Nagle's algorithm. Prosody keeps it on (nagle = true in net/server_epoll.lua) and
-- writes in pieces of 8 KiB, so the last piece of any stanza larger than that waits for
-- the receiving client's delayed acknowledgement, up to 40 ms. Measured with Prosody
-- 0.12.3, 1,000 users online, a platform asking `peers` one request at a time
-- (scripts/side-by-side.sh; the platform's p50 latency):
--
--                                              compact (2.7 KB)   data form (10.7 KB)
--   Nagle on (the default), gc default         0.75 ms            44.0 ms
--   Nagle on, the gc setting above             0.62 ms            44.0 ms
--   nagle = false, gc default                  0.65 ms            1.92 ms
--   nagle = false, the gc setting above        0.65 ms            1.72 ms
--
-- The bridge's own link does not pay this wait (it acknowledges at once); platforms'
-- and users' clients do, for every answer, invitation or message over 8 KiB. It is a
-- global option: it applies to every connection of the server.
network_settings = { nagle = false }

-- Platforms that log in as bot accounts. Debian's prosody.cfg.lua loads mod_limits and
-- reads every client connection at 10 kb/s (limits = { c2s = { rate = "10kb/s" } }), so
-- a platform can ask the bridge about 30 times a second, each request waiting for the
-- limit. Measured with Prosody 0.12.3, 1,000 users online, a platform asking `peers`
-- (compact) one request at a time (scripts/flood.sh with SBS_LIMITS; p50):
--
--   mod_limits as Debian sets it                          30.9 ms
--   the same, the platform's account in unlimited_jids    0.68 ms (gc default, Nagle on)
--                                                         0.59 ms (the settings above)
--
-- List the accounts of the platforms you register with the bridge (a platform that is
-- a component of this server is not limited); users' connections stay limited.
-- unlimited_jids = { "arcade@example.org" }

---------- Your users' host (adds to its section if prosody.cfg.lua declares it too) ----------

VirtualHost "example.org"
    modules_enabled = { "privilege" }
    -- What the bridge may do for this host's users (XEP-0356), least privilege first:
    --   roster = "get":              read rosters: who a user's mutual contacts are (peers)
    --   presence = "managed_entity": the presence of this host's users (peers and status)
    -- Optional:
    --   presence = "roster" instead: also the presence of their contacts on other
    --       servers, for remote peers (only listed where the bridge's config allows it)
    --   iq = { ["http://jabber.org/protocol/pubsub"] = "set" }: publish what a user
    --       plays to their PEP (XEP-0196), for platforms holding "publish-gaming".
    --       Without it, publish-gaming answers feature-not-implemented.
    privileged_entities = {
        ["game.example.org"] = {
            roster = "get";
            presence = "managed_entity";
            iq = { ["http://jabber.org/protocol/pubsub"] = "set" };
        };
    }
    -- Optional: the conversation tier, where "active peers" means "chatting now" rather
    -- than "online". Copy component-config/mod_game_bridge_activity.lua to a directory in
    -- plugin_paths (e.g. /usr/local/lib/prosody/modules) and uncomment these lines (the
    -- first one replaces the modules_enabled line above):
    -- modules_enabled = { "privilege"; "game_bridge_activity" }
    -- game_bridge_component = "game.example.org"
    -- game_bridge_activity_interval = 60 -- at most one report per pair of users per minute

---------- The bridge ----------

Component "game.example.org"
    -- The same secret as in the file named by server.secret_file in the bridge's config.
    component_secret = "change-me-to-a-long-random-secret"
    modules_enabled = { "privilege" }
    -- A new connection of the bridge replaces one Prosody still holds: a standby bridge
    -- taking over (see the README), or the bridge itself after a network failure, is let
    -- in at once instead of being refused until Prosody notices the old one is dead.
    component_conflict_resolve = "kick_old"
