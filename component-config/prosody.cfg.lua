-- Prosody 0.12: attach xmpp-game-bridge to your server.
-- Merge these lines into /etc/prosody/prosody.cfg.lua (or a file it includes), then
-- reload Prosody: prosodyctl reload
--
-- Requires mod_privilege (XEP-0356) from prosody-modules:
--   Debian: apt-get install prosody-modules
--   and add its directory to plugin_paths if your packaging does not:
--   plugin_paths = { "/usr/lib/prosody/modules", "/usr/share/prosody-modules" }

-- The component port. XEP-0114 is unencrypted: listen on loopback only.
component_ports = { 5347 }
component_interfaces = { "127.0.0.1" }

VirtualHost "example.org"
    -- "game_bridge_activity" is optional (component-config/mod_game_bridge_activity.lua:
    -- copy it into a directory listed in plugin_paths). It tells the bridge who chats
    -- with whom, so that "active peers" means "chatting now" rather than "online".
    modules_enabled = { "privilege"; "game_bridge_activity" }
    game_bridge_component = "game.example.org"
    -- At most one report per pair of users every this many seconds (default 60).
    game_bridge_activity_interval = 60
    -- What the bridge may do for this host's users (XEP-0356):
    --   roster = "get": read rosters, to know who a user's chat peers are
    --                   ("both" also lets it change rosters; not needed)
    --   presence = "roster": receive the presence of every user, to know who is available
    --   message = "outgoing": send messages on a user's behalf (rights such as send-message)
    privileged_entities = {
        ["game.example.org"] = {
            roster = "get";
            message = "outgoing";
            presence = "roster";
        };
    }

Component "game.example.org"
    -- The same secret as in the file named by server.secret_file in the bridge's config.
    component_secret = "change-me-to-a-long-random-secret"
    modules_enabled = { "privilege" }
