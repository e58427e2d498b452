-- PUT a name and status change on a random join of a random writer tenant.
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local common = require("common")

local writers = common.data.writers
local n = 0

setup = common.setup
done = common.done

function init(args)
   math.randomseed(1000 + (tid or 0))
end

function request()
   n = n + 1
   local w = writers[math.random(1, #writers)]
   return wrk.format("PUT", common.api, common.headers(w.key, true), common.update_body(w.tenant, n))
end
