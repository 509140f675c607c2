-- wrk script for the berth benchmarks: method, body and headers come from the environment
-- (WRK_METHOD, WRK_BODY, WRK_HEADERS as a flat JSON object of strings); the summary is printed
-- as one line "WRKJSON {...}" for bench/common.py to parse.

wrk.method = os.getenv("WRK_METHOD") or "GET"
local body = os.getenv("WRK_BODY") or ""
if body ~= "" then wrk.body = body end
local headers = os.getenv("WRK_HEADERS") or "{}"
for k, v in string.gmatch(headers, '"([^"]+)"%s*:%s*"([^"]*)"') do
  wrk.headers[k] = v
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors_connect":%d,"errors_read":%d,"errors_write":%d,"errors_status":%d,"errors_timeout":%d,' ..
    '"lat_p50_us":%d,"lat_p90_us":%d,"lat_p99_us":%d,"lat_max_us":%d,"lat_mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean))
end
