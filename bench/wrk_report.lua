-- Loads one case for bench/loading.py. With BENCH_KEYS_FILE set (one key a line), each request
-- presents the next key of the file, `Authorization: Api-Key <key>`, round and round; without
-- it, wrk sends its one request (headers given with -H). At the end, prints wrk's totals and
-- latency percentiles as one JSON line.
local keys_file = os.getenv("BENCH_KEYS_FILE")

if keys_file then
  local requests, count, index = {}, 0, 0

  init = function(args)
    for key in io.lines(keys_file) do
      if key ~= "" then
        count = count + 1
        requests[count] = wrk.format(nil, nil, { ["Authorization"] = "Api-Key " .. key })
      end
    end
    if count == 0 then
      error("no keys in " .. keys_file)
    end
  end

  request = function()
    index = index % count + 1
    return requests[index]
  end
end

done = function(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, "status_errors": %d, '
      .. '"socket_errors": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, summary.bytes, errors.status,
    errors.connect + errors.read + errors.write + errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
