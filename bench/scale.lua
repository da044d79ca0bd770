-- bench/scale.lua: the wrk script of bench/scale.sh. Every request carries
-- a bearer token and names a package drawn from long lists, so that the
-- token cache and the packument cache see many entries, not one hot one.
--
-- Environment (set by bench/scale.sh):
--   SCALE_LISTS     folder of seed scale's -lists files
--   SCALE_SCENARIO  abbreviated, full, tarball, notfound, cold,
--                   zipf-abbreviated, zipf-full or zipf-tarball
--   SCALE_THREADS   wrk's thread count (-t)
--   SCALE_ENCODING  the Accept-Encoding sent (npm's "gzip,deflate" unless
--                   set; empty sends none)
--
-- abbreviated, full, notfound: a random warm token (tokens-SCENARIO.txt,
-- the scenario's own share of the warm tokens) and a random package
-- (packages.txt); tarball: the same tokens, and a random package's latest
-- tarball (tarballs.txt); cold: the abbreviated packument of a random package with
-- a token no request has used yet (cold-tokens.txt, split between the
-- threads). zipf-*: as the scenario after the dash, the package drawn by
-- popularity (zipf.txt, written by `seed zipf`: every package, most popular
-- first, with the cumulative probability of the ranks up to it): a uniform
-- draw per request, and a binary search over those cumulative weights.
--
-- A cold thread stops once every one of its tokens has been answered, so
-- its figures are of cold requests only; wrk, though, divides by the whole
-- duration, so each cold thread times its own requests (a monotonic clock,
-- through LuaJIT's FFI) and done() prints the rate they make:
--   Cold requests/sec: R (N requests in S s; T of U threads used up their tokens)

local lists = os.getenv("SCALE_LISTS") or "."
local scenario = os.getenv("SCALE_SCENARIO") or "abbreviated"
local nthreads = tonumber(os.getenv("SCALE_THREADS") or "2")
-- SCALE_SPREAD, when set, draws names from the first N packages only (the
-- same working set on a small and a big store); unset, from every package.
local spread = tonumber(os.getenv("SCALE_SPREAD") or "0")
local abbreviated = "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*"
-- SCALE_ENCODING is the Accept-Encoding every request sends: npm's
-- "gzip,deflate" unless set; empty sends none (documents as JSON).
local encoding = os.getenv("SCALE_ENCODING") or "gzip,deflate"

local function read_lines(name)
  local out = {}
  local f = assert(io.open(lists .. "/" .. name, "r"))
  for line in f:lines() do
    if line ~= "" then
      out[#out + 1] = line
    end
  end
  f:close()
  assert(#out > 0, name .. " is empty")
  return out
end

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  threads[#threads + 1] = thread
end

-- zipf-abbreviated is abbreviated with names drawn by popularity, and so on.
local kind = scenario
local zipf = false
if scenario:sub(1, 5) == "zipf-" then
  kind = scenario:sub(6)
  zipf = true
end

local tokens, paths, cold, cdf
local cold_next = 1

-- read_zipf fills paths (package or tarball paths, most popular first) and
-- cdf (their cumulative probabilities) from zipf.txt.
local function read_zipf()
  paths, cdf = {}, {}
  local column = kind == "tarball" and 3 or 2
  for _, line in ipairs(read_lines("zipf.txt")) do
    local fields = {}
    for f in line:gmatch("[^\t]+") do
      fields[#fields + 1] = f
    end
    assert(#fields == 3, "zipf.txt: bad line " .. line)
    cdf[#cdf + 1] = assert(tonumber(fields[1]), "zipf.txt: bad weight " .. fields[1])
    paths[#paths + 1] = fields[column]
  end
end

-- pick is a random path: by popularity (binary search for the first rank
-- whose cumulative probability exceeds a uniform draw), or uniformly.
local function pick()
  if cdf == nil then
    return paths[math.random(#paths)]
  end
  local u = math.random()
  local lo, hi = 1, #cdf
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if cdf[mid] > u then
      hi = mid
    else
      lo = mid + 1
    end
  end
  return paths[lo]
end

function init(args)
  math.randomseed(os.time() * 1000 + (id or 0) * 7919)
  if zipf then
    read_zipf()
  elseif kind == "tarball" then
    paths = read_lines("tarballs.txt")
  else
    paths = read_lines("packages.txt")
  end
  if not zipf and spread > 0 and spread < #paths then
    for i = #paths, spread + 1, -1 do
      paths[i] = nil
    end
  end
  if scenario == "cold" then
    local all = read_lines("cold-tokens.txt")
    cold = {}
    for i = 1 + (id or 0), #all, nthreads do
      cold[#cold + 1] = all[i]
    end
  else
    tokens = read_lines("tokens-" .. scenario .. ".txt")
  end
end

-- The request is one string concatenation, not wrk.format (which walks
-- header tables for every request): the load generator shares the
-- machine's two cores with gatehouse, and bench/scale.sh records its CPU
-- time beside gatehouse's.
local head, accept, suffix

function request()
  local path = pick()
  local token
  if cold then
    if first == nil then
      first = now()
    end
    -- Past the last cold token (while the last answers are on their
    -- way), requests reuse the first; they are not timed.
    token = cold[cold_next] or cold[1]
    cold_next = cold_next + 1
  else
    token = tokens[math.random(#tokens)]
  end
  if head == nil then
    local host = wrk.headers["Host"] or (wrk.host .. ":" .. tostring(wrk.port))
    head = " HTTP/1.1\r\nHost: " .. host .. "\r\nAuthorization: Bearer "
    accept = ""
    if kind == "abbreviated" or cold then
      accept = "\r\nAccept: " .. abbreviated
    elseif kind == "full" then
      accept = "\r\nAccept: application/json"
    end
    if encoding ~= "" then
      accept = accept .. "\r\nAccept-Encoding: " .. encoding
    end
    accept = accept .. "\r\n\r\n"
    suffix = kind == "notfound" and "-no-such-package" or ""
  end
  return "GET " .. path .. suffix .. head .. token .. accept
end

if scenario == "cold" then
  local ffi = require("ffi")
  ffi.cdef [[
    typedef struct { long tv_sec; long tv_nsec; } scale_timespec;
    int clock_gettime(int clock, scale_timespec *tp);
  ]]
  local ts = ffi.new("scale_timespec")
  local CLOCK_MONOTONIC = 1

  -- now is the monotonic clock in seconds (a global: every thread has
  -- its own Lua state, and request() above calls it).
  function now()
    ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
    return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
  end

  -- Globals, so that done() can read them from each thread.
  answered = 0
  used_up = 0

  function response(status, headers, body)
    if used_up == 1 then
      return
    end
    answered = answered + 1
    last = now()
    if answered >= #cold then
      used_up = 1
      wrk.thread:stop()
    end
  end
end

function done(summary, latency, requests)
  if scenario ~= "cold" then
    return
  end
  local n, from, to, stopped = 0, nil, nil, 0
  for _, t in ipairs(threads) do
    n = n + (t:get("answered") or 0)
    stopped = stopped + (t:get("used_up") or 0)
    local f, l = t:get("first"), t:get("last")
    if f and (from == nil or f < from) then
      from = f
    end
    if l and (to == nil or l > to) then
      to = l
    end
  end
  if from and to and to > from then
    io.write(string.format("Cold requests/sec: %.2f (%d requests in %.3f s; %d of %d threads used up their tokens)\n",
      n / (to - from), n, to - from, stopped, #threads))
  end
end
