-- POST a new join, round-robin over the writer tenants. With BENCH_REFERENCE=1 the same
-- bodies go to the bare-INSERT reference, POST /bench/insert?tenant=... (joins/benchfloor.py).
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local common = require("common")

local writers = common.data.writers
local reference = os.getenv("BENCH_REFERENCE") == "1"
local n = 0

setup = common.setup
done = common.done

function request()
   n = n + 1
   local w = writers[((n * common.threads + (tid or 0)) % #writers) + 1]
   local path = reference and ("/bench/insert?tenant=" .. w.tenant) or common.api
   return wrk.format("POST", path, common.headers(w.key, true), common.create_body(n))
end
