-- Shared by the scenario scripts: the run's data file, thread numbering, the JSON summary.
-- The runner sets BENCH_LUA_DIR (this folder), BENCH_DATA (a Lua file it wrote with the
-- tenants and keys of this run) and BENCH_THREADS (wrk's -t).
local M = {}

M.data = dofile(os.getenv("BENCH_DATA"))
M.threads = tonumber(os.getenv("BENCH_THREADS") or "1")
M.api = "/api/v1/schema-joins"

-- setup() runs in the main state once per thread, before the thread's own script starts:
-- give each thread a number so that threads never pick the same delete-pool id.
local next_tid = 0
function M.setup(thread)
   thread:set("tid", next_tid)
   next_tid = next_tid + 1
end

-- One line the runner parses; latency in microseconds.
function M.done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f}}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.max, latency.mean))
end

function M.headers(key, json)
   local h = { ["X-API-Key"] = key }
   if json then h["Content-Type"] = "application/json" end
   return h
end

function M.create_body(n)
   return string.format(
      '{"name":"bench create %d","primarySchemaId":"sch_0","primaryKey":"f0",' ..
      '"foreignSchemaId":"sch_1","foreignKey":"f1","autoEnrich":true}', n)
end

-- A name-and-status change: the common update, which re-validates no side.
function M.update_body(tenant, n)
   local m = math.random(0, M.data.joins_per_tenant - 1)
   local status = (n % 2 == 0) and "active" or "inactive"
   return string.format('{"id":"sj_%s_%d","name":"bench update %d","status":"%s"}', tenant, m, n, status)
end

-- The g-th id of a delete pool over `tenants` (each thread walks its own residue class).
function M.delete_path(tenants, g)
   local t = tenants[(g % #tenants) + 1]
   local k = math.floor(g / #tenants)
   return t.key, string.format("%s?id=sj_del_%s_%d", M.api, t.tenant, k)
end

return M
