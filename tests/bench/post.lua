-- wrk script: POST one lease request per call, each with a fresh Idempotency-Key.
-- Arguments after `--`: <api key> <project id> <seed>.
-- done() prints one `BENCH_RESULT key=value ...` line that tests/bench/run.py parses.

local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_index", thread_count)
end

function init(args)
  local token, project_id, seed = args[1], args[2], tonumber(args[3]) or os.time()
  math.randomseed(seed + thread_index * 1000003)
  wrk.method = "POST"
  wrk.headers["Authorization"] = "Bearer " .. token
  wrk.headers["Content-Type"] = "application/json"
  wrk.body = string.format(
    '{"projectId": "%s", "count": 1, "niche": {"vertical": "coffee", "language": "en", "geo": ["US"]}}',
    project_id
  )
end

local function uuid4()
  return (string.gsub("xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx", "[xy]", function(c)
    local v = (c == "x") and math.random(0, 15) or math.random(8, 11)
    return string.format("%x", v)
  end))
end

function request()
  wrk.headers["Idempotency-Key"] = uuid4()
  return wrk.format()
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH_RESULT requests=%d duration_us=%d status_errors=%d connect_errors=%d "
      .. "read_errors=%d write_errors=%d timeouts=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d\n",
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max
  ))
end
