-- mod_game_bridge_activity: tell xmpp-game-bridge who chats with whom (Prosody 0.12).
--
-- The component cannot read message archives, so this module, loaded on a VirtualHost,
-- watches the chat messages that local users exchange and reports each conversation to
-- the component ("active peers", tier 2 of DESIGN.md). It never changes, delays or
-- blocks a message: it only observes.
--
-- Install: copy this file into a directory listed in `plugin_paths`, then in the
-- VirtualHost section:
--
--   modules_enabled = { "game_bridge_activity" }
--   game_bridge_component = "game.example.org"   -- required: the bridge's component JID
--   game_bridge_activity_interval = 60           -- optional: seconds between two reports
--                                                -- for the same pair (0 = no limit)
--
-- Contract with the component (namespace urn:xmpp-game-bridge:activity:1):
--
-- * The host's disco#info lists the feature `urn:xmpp-game-bridge:activity:1`, so the
--   component can tell whether the module is installed.
-- * For a message of type chat, normal or without type that has a non-empty <body>, sent
--   by a client of a user of this host to another user of this host, the component
--   receives, at most once per unordered pair of users per interval:
--
--     <message from='example.org' to='game.example.org' id='…'>
--       <activity xmlns='urn:xmpp-game-bridge:activity:1' mac='…'>
--         <exchange by='alice@example.org' with='bob@example.org' at='2026-11-21T05:14:00Z'/>
--       </activity>
--     </message>
--
--   `by` is the sender's bare JID, `with` the recipient's, `at` the time the server routed
--   the message (XEP-0082, UTC, whole seconds).
-- * `mac` authenticates the report: any component granted the `message` privilege could
--   send a message from the host's JID, so the component accepts only reports signed
--   with a key derived from its shared secret, which this module reads from the
--   Component block (`component_secret`): key = HMAC-SHA256(secret,
--   "urn:xmpp-game-bridge:activity:1"); mac = hex HMAC-SHA256(key, "by\nwith\nat\n" for
--   each exchange, in order). Nothing to configure beyond the Component block.
-- * Not reported: groupchat, headline and error messages; messages without a body (chat
--   states, receipts, markers); carbon copies; messages to or from other hosts or
--   components; messages between resources of the same user; messages to accounts that
--   do not exist; messages a component injects on a user's behalf (XEP-0356): only
--   messages typed by the user in a client count.
-- * A message counts once however many resources receive it, and also when the recipient
--   is offline (it is then stored for later delivery).
-- * While the component is not connected, reports are dropped (not queued).

local st = require "util.stanza";
local jid_split = require "util.jid".split;
local jid_prep = require "util.jid".prep;
local datetime = require "util.datetime".datetime;
local new_id = require "util.id".medium;
local monotonic = require "util.time".monotonic;
local user_exists = require "core.usermanager".user_exists;
local hmac_sha256 = require "util.hashes".hmac_sha256;

local xmlns_activity = "urn:xmpp-game-bridge:activity:1";
local xmlns_carbons = "urn:xmpp:carbons:2";
local xmlns_carbons_old = "urn:xmpp:carbons:1";

local host = module.host;
local hosts = prosody.hosts;

if module:get_host_type() ~= "local" then
	module:log("error", "mod_%s must be loaded on a VirtualHost, not on %s; it does nothing here",
		module.name, host);
	return;
end

local configured_component = module:get_option_string("game_bridge_component");
local component = configured_component and jid_prep(configured_component);
if not component then
	if configured_component then
		module:log("error", "game_bridge_component = %q is not a valid JID; chat activity is not reported",
			configured_component);
	else
		module:log("error", "game_bridge_component is not set; chat activity is not reported");
	end
	return;
end
do
	local node, domain, resource = jid_split(component);
	if node or resource or domain == host then
		module:log("error", "game_bridge_component = %q must be the component's domain (like game.%s);"
			.. " chat activity is not reported", configured_component, host);
		return;
	end
end

-- The component's shared secret, from its Component block, keys the reports' MAC.
local component_secret = module:context(component):get_option_string("component_secret");
if not component_secret then
	module:log("error", "no component_secret is configured for %s (its Component block); chat activity"
		.. " is not reported", component);
	return;
end
local report_key = hmac_sha256(component_secret, xmlns_activity);
component_secret = nil;

local function hex(bytes)
	return (bytes:gsub(".", function (c) return string.format("%02x", c:byte()); end));
end

local interval = module:get_option_number("game_bridge_activity_interval", 60);
if interval == nil or interval < 0 or interval ~= interval then
	module:log("warn", "game_bridge_activity_interval must be a number of seconds >= 0; using 60");
	interval = 60;
end

module:add_feature(xmlns_activity);
module:log("info", "Reporting chat activity of %s users to %s (at most one report per pair every %gs)",
	host, component, interval);

-- Last report time (monotonic seconds) per unordered pair "a\0b", a < b.
-- Only used when interval > 0; pruned every interval, so it holds at most the pairs
-- reported during the last two intervals.
local last_report = {};

if interval > 0 then
	module:add_timer(interval, function ()
		local now = monotonic();
		local removed, kept = 0, 0;
		for pair, at in pairs(last_report) do
			if now - at >= interval then
				last_report[pair] = nil;
				removed = removed + 1;
			else
				kept = kept + 1;
			end
		end
		if removed > 0 then
			module:log("debug", "Pruned %d expired pair(s), %d kept", removed, kept);
		end
		return interval;
	end);
end

-- false when the component is an external component of this server that is not
-- connected right now: mod_component would bounce the report with an error and log a
-- warning for each one. Otherwise (connected, internal, or unknown here) let routing
-- decide.
local function component_reachable()
	local component_host = hosts[component];
	local component_module = component_host and component_host.modules
		and component_host.modules.component;
	if component_module and rawget(component_module, "connected") == false then
		return false;
	end
	return true;
end

local function has_body(stanza)
	for body in stanza:childtags("body") do
		local text = body:get_text();
		if text and text:find("%S") then
			return true;
		end
	end
	return false;
end

local function is_carbon(stanza)
	return stanza:get_child("sent", xmlns_carbons) or stanza:get_child("received", xmlns_carbons)
		or stanza:get_child("sent", xmlns_carbons_old) or stanza:get_child("received", xmlns_carbons_old);
end

local countable_types = { chat = true, normal = true };

local function observe(event)
	local origin, stanza = event.origin, event.stanza;

	local message_type = stanza.attr.type;
	if message_type ~= nil and not countable_types[message_type] then return; end

	-- Only what a user sends from a client of this host: a real, bound c2s session
	-- (mod_privilege's stand-in session for messages a component sends on a user's
	-- behalf has no full_jid), not s2s, not a component, not another VirtualHost.
	if origin.type ~= "c2s" or not origin.full_jid or not origin.username or origin.host ~= host then
		return;
	end

	local to = stanza.attr.to;
	if not to then return; end -- to the sender's own bare JID (the router removed 'to')
	local to_node, to_host = jid_split(to);
	if not to_node or to_host ~= host then return; end

	local by = origin.username .. "@" .. host;
	local with = to_node .. "@" .. to_host;
	if by == with then return; end

	if not has_body(stanza) or is_carbon(stanza) then return; end

	local pair = by < with and (by .. "\0" .. with) or (with .. "\0" .. by);
	local now = monotonic();
	if interval > 0 then
		local last = last_report[pair];
		if last and now - last < interval then return; end
	end

	if not user_exists(to_node, host) then return; end

	if not component_reachable() then
		module:log("debug", "%s is not connected; activity %s -> %s not reported", component, by, with);
		return;
	end

	if interval > 0 then
		last_report[pair] = now;
	end

	local at = datetime();
	local mac = hex(hmac_sha256(report_key, by .. "\n" .. with .. "\n" .. at .. "\n"));
	local report = st.message({ from = host, to = component, id = new_id() })
		:tag("activity", { xmlns = xmlns_activity, mac = mac })
			:tag("exchange", { by = by, with = with, at = at }):up()
		:up();
	module:log("debug", "Reporting activity to %s: %s", component, report);
	module:send(report);
end

-- Never let a fault here cost a message: util.events does not catch errors, and an
-- error in a handler would abort the routing of the stanza being observed.
local function observer(event)
	local ok, err = pcall(observe, event);
	if not ok then
		module:log("error", "Error while observing a message (the message is delivered anyway): %s", err);
	end
	-- return nothing: the message goes on to delivery untouched
end

-- "message/bare" and "message/full" fire on the recipient's host exactly once per
-- message routed to a local user: mod_message (priority -1) then delivers a bare-JID
-- message to all top resources or to offline storage, and a full-JID message whose
-- resource is gone through the same code path, without firing a second event. Carbon
-- copies and offline messages replayed at login are sent to sessions directly and fire
-- no event. Priority 0 (like mod_mam's archiver) runs after the handlers that drop or
-- bounce messages (mod_blocklist 100, mod_block_strangers 200, privacy lists 500), so a
-- refused message is not reported, and before delivery.
module:hook("message/bare", observer, 0);
module:hook("message/full", observer, 0);
