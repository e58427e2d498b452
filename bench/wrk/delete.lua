-- DELETE joins of the writers' delete pool, each id once across all threads.
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local common = require("common")

local writers = common.data.writers
local n = 0

setup = common.setup
done = common.done

function request()
   local key, path = common.delete_path(writers, (tid or 0) + common.threads * n)
   n = n + 1
   return wrk.format("DELETE", path, common.headers(key, false))
end
