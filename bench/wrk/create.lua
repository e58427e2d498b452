-- POST a new join, round-robin over the writer tenants.
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local common = require("common")

local writers = common.data.writers
local n = 0

setup = common.setup
done = common.done

function request()
   n = n + 1
   local w = writers[((n * common.threads + (tid or 0)) % #writers) + 1]
   return wrk.format("POST", common.api, common.headers(w.key, true), common.create_body(n))
end
