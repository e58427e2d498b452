-- GET the list of one tenant; BENCH_TENANT names the data file's entry (list100, list5000).
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local common = require("common")

local target = common.data[os.getenv("BENCH_TENANT")]
wrk.method = "GET"
wrk.path = common.api
wrk.headers["X-API-Key"] = target.key

done = common.done
