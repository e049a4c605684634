-- levee: one atomic decision (state.Batch). The same algorithm as decide()
-- in bolt.go; the table tests of state_test.go run against both.
--
-- Values carry their own expiry (ms, the caller's clock), as in the bbolt
-- store: a record past it is absent, whatever Redis's clock says. The key's
-- Redis TTL is set to the same instant, so Redis frees it.
--   g:<triplet>  "<expires>:<first>:<0 pending|1 passed>"
--   n:<network>  "<expires>:<count>"
--   r:<counter>  "<expires>:<count>"
--
-- KEYS: per greylist op: triplet, network; per counter: current, previous.
-- ARGV: now, ngrey, delay, window, ttl, auto_allow, allowed, ncount, then
--       per counter: add, limit, window, sliding, previous-window weight.
-- Returns: per greylist op: outcome, first seen; per counter: count (a
-- string: Lua numbers would be truncated), over (0/1).
local now = tonumber(ARGV[1])
local ng = tonumber(ARGV[2])
local delay, window, ttl = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local auto, allowed = tonumber(ARGV[6]), tonumber(ARGV[7])
local nc = tonumber(ARGV[8])
local refresh = ttl - math.floor(ttl / 16)

local function num(x)
  return string.format('%d', x)
end

-- get returns the fields of a live record, or nil.
local function get(key, pattern)
  local v = redis.call('GET', key)
  if not v then
    return nil
  end
  local f = { string.match(v, pattern) }
  if #f == 0 or tonumber(f[1]) <= now then
    return nil
  end
  return f
end

local function put(key, exp, value)
  redis.call('SET', key, num(exp) .. ':' .. value, 'PX', num(exp - now))
end

local out = {}
local refused = false
for i = 1, ng do
  local tk, nk = KEYS[2 * i - 1], KEYS[2 * i]
  local nf = get(nk, '^(%d+):(%d+)$')
  local count = 0
  if nf then
    count = tonumber(nf[2])
  end
  local outcome, first = 0, 0
  if count >= allowed or (auto > 0 and count >= auto) then
    outcome = 5 -- allowed
    if tonumber(nf[1]) - now < refresh then
      put(nk, now + ttl, num(count))
    end
  else
    local tf = get(tk, '^(%d+):(%d+):(%d)$')
    if tf then
      first = tonumber(tf[2])
    end
    if (not tf) or (tf[3] == '0' and now - first > window) then
      outcome, first = 1, now -- new
      put(tk, now + window, num(now) .. ':0')
    elseif tf[3] == '1' then
      outcome = 4 -- known
      if tonumber(tf[1]) - now < refresh then
        put(tk, now + ttl, num(first) .. ':1')
      end
    elseif now - first < delay then
      outcome = 2 -- early retry
    else
      outcome = 3 -- passed
      put(tk, now + ttl, num(first) .. ':1')
      put(nk, now + ttl, num(count + 1))
    end
  end
  if outcome == 1 or outcome == 2 then
    refused = true
  end
  out[#out + 1] = outcome
  out[#out + 1] = first
end

local over = false
local curs, counts, overs = {}, {}, {}
for j = 1, nc do
  local a = 8 + (j - 1) * 5
  local add, limit = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  local sliding, weight = tonumber(ARGV[a + 4]), tonumber(ARGV[a + 5])
  local ck, pk = KEYS[2 * ng + 2 * j - 1], KEYS[2 * ng + 2 * j]
  local cf = get(ck, '^(%d+):(%d+)$')
  local cur = 0
  if cf then
    cur = tonumber(cf[2])
  end
  local est = cur
  if sliding == 1 then
    local pf = get(pk, '^(%d+):(%d+)$')
    if pf then
      est = est + tonumber(pf[2]) * weight
    end
  end
  curs[j], counts[j] = cur, est
  if est + add > limit then
    overs[j] = 1
    over = true
  else
    overs[j] = 0
  end
end
if (not refused) and (not over) then
  for j = 1, nc do
    local a = 8 + (j - 1) * 5
    local add, win = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 3])
    local idx = math.floor(now / win)
    put(KEYS[2 * ng + 2 * j - 1], (idx + 2) * win, num(curs[j] + add))
  end
end
for j = 1, nc do
  out[#out + 1] = string.format('%.17g', counts[j])
  out[#out + 1] = overs[j]
end
return out
