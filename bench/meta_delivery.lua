-- wrk script for bench/ingest.py: every request is a distinct, correctly signed Meta
-- (Facebook Page feed) comment delivery. The HMAC-SHA256 signature is computed with the
-- OpenSSL that wrk itself links (LuaJIT FFI), so signing costs microseconds.
--
-- Parameters come from the environment: BENCH_SECRET (app secret), BENCH_TAG (unique per
-- run, so comment ids never repeat between runs), BENCH_PAGE_ID.
local ffi = require("ffi")
ffi.cdef [[
typedef struct evp_md_st EVP_MD;
const EVP_MD *EVP_sha256(void);
unsigned char *HMAC(const EVP_MD *evp_md, const void *key, int key_len,
                    const unsigned char *d, size_t n, unsigned char *md, unsigned int *md_len);
]]
local C = ffi.C
local md = ffi.new("unsigned char[32]")
local md_len = ffi.new("unsigned int[1]")
local hex = {}
for i = 0, 255 do hex[i] = string.format("%02x", i) end

local secret = os.getenv("BENCH_SECRET") or "S"
local tag = os.getenv("BENCH_TAG") or tostring(os.time())
local page_id = os.getenv("BENCH_PAGE_ID") or "1234567890321"

local function sign(body)
  C.HMAC(C.EVP_sha256(), secret, #secret, body, #body, md, md_len)
  local out = {}
  for i = 0, 31 do out[i + 1] = hex[md[i]] end
  return "sha256=" .. table.concat(out)
end

local texts = {
  "Wann kommt endlich meine Lieferung? Ich warte seit zwei Wochen.",
  "Great product, thanks for the quick support!",
  "Der Preis ist viel zu hoch, das ist eine Frechheit.",
  "My order arrived damaged, can I get a refund please?",
  "Hallo, gibt es das auch in Blau? Danke!",
  "The app keeps crashing since the last update.",
  "Super Service, vielen Dank an das ganze Team.",
  "Is this still available in the Berlin store?",
}

-- All threads' states, to add up their counters in done().
local threads = {}
local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("tid", thread_count)
  table.insert(threads, thread)
end

function init(args)
  generated = 0
  local seed = tonumber(tid) or 1
  math.randomseed(os.time() + seed * 7919)
end

function request()
  generated = generated + 1
  local n = generated
  local post = page_id .. "_" .. tostring(math.random(1, 2000))
  local author = tostring(100000000 + math.random(1, 20000))
  local now = os.time()
  local body = '{"object":"page","entry":[{"id":"' .. page_id .. '","time":' .. now ..
    ',"changes":[{"field":"feed","value":{"item":"comment","verb":"add","comment_id":"' ..
    tag .. "_" .. tid .. "_" .. n .. '","post_id":"' .. post .. '","parent_id":"' .. post ..
    '","from":{"id":"' .. author .. '","name":"Bench User ' .. author ..
    '"},"created_time":' .. now .. ',"message":"' .. texts[(n % #texts) + 1] .. '"}}]}]}'
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/json",
    ["X-Hub-Signature-256"] = sign(body),
  }, body)
end

function done(summary, latency, requests)
  local generated_total = 0
  for _, thread in ipairs(threads) do
    generated_total = generated_total + (tonumber(thread:get("generated")) or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"generated":%d,"status_errors":%d,' ..
    '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d,' ..
    '"p50_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, generated_total, e.status, e.connect, e.read,
    e.write, e.timeout, latency:percentile(50), latency:percentile(99), latency.max))
end
