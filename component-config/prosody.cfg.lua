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
