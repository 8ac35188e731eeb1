-- Test support: where this Prosody connects for server-to-server links, by domain, from
-- its own configuration instead of DNS (two test servers on loopback, no /etc/hosts).
--   test_s2s_targets = { ["other.test"] = { "127.0.0.1", 45269 } }
module:set_global();

local service = require "net.resolvers.service";
local basic = require "net.resolvers.basic";

local targets = module:get_option("test_s2s_targets", {});
local original = service.new;

function service.new(hostname, service_name, conn_type, extra)
	local target = service_name == "xmpp-server" and targets[hostname];
	if target then
		return basic.new(target[1], target[2], conn_type, extra);
	end
	return original(hostname, service_name, conn_type, extra);
end

function module.unload()
	service.new = original;
end
