-- Read-heavy traffic across many tenants: 90% list, 4% create, 4% update, 2% delete.
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local common = require("common")

local tenants = common.data.mixed
local n = 0
local deletes = 0

setup = common.setup
done = common.done

function init(args)
   math.randomseed(2000 + (tid or 0))
end

function request()
   n = n + 1
   local t = tenants[math.random(1, #tenants)]
   local roll = math.random(1, 100)
   if roll <= 90 then
      return wrk.format("GET", common.api, common.headers(t.key, false))
   elseif roll <= 94 then
      return wrk.format("POST", common.api, common.headers(t.key, true), common.create_body(n))
   elseif roll <= 98 then
      return wrk.format("PUT", common.api, common.headers(t.key, true), common.update_body(t.tenant, n))
   end
   local key, path = common.delete_path(tenants, (tid or 0) + common.threads * deletes)
   deletes = deletes + 1
   return wrk.format("DELETE", path, common.headers(key, false))
end
