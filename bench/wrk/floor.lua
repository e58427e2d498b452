-- Floors (b) and (c): a plain GET of the URL given to wrk, no credentials.
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local common = require("common")

done = common.done
