-- bench/scale.lua: the wrk script of bench/scale.sh. Every request carries
-- a bearer token and names a package drawn from long lists, so that the
-- token cache and the packument cache see many entries, not one hot one.
--
-- Environment (set by bench/scale.sh):
--   SCALE_LISTS     folder of seed scale's -lists files
--   SCALE_SCENARIO  abbreviated, full, tarball, notfound or cold
--   SCALE_THREADS   wrk's thread count (-t)
--
-- abbreviated, full, notfound: a random warm token (tokens-SCENARIO.txt,
-- the scenario's own share of the warm tokens) and a random package
-- (packages.txt); tarball: the same tokens, and a random package's latest
-- tarball (tarballs.txt); cold: the abbreviated packument of a random package with
-- a token no request has used yet (cold-tokens.txt, split between the
-- threads).
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

local tokens, paths, cold
local cold_next = 1

function init(args)
  math.randomseed(os.time() * 1000 + (id or 0) * 7919)
  if scenario == "tarball" then
    paths = read_lines("tarballs.txt")
  else
    paths = read_lines("packages.txt")
  end
  if spread > 0 and spread < #paths then
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

function request()
  local path = paths[math.random(#paths)]
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
  local headers = { ["Authorization"] = "Bearer " .. token }
  if scenario == "abbreviated" or cold then
    headers["Accept"] = abbreviated
  elseif scenario == "full" then
    headers["Accept"] = "application/json"
  elseif scenario == "notfound" then
    path = path .. "-no-such-package"
  end
  return wrk.format("GET", path, headers)
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
