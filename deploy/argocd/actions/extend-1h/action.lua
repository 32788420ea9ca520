-- Argo CD action "extend-1h": top up a ManagedEndpoint's meter by one hour,
-- as `kubectl sagemeter extend NAME 1h` does:
--   spec.expiry.expiresAt = max(now, current expiry) + 1h
-- The current expiry is status.expiresAt (it includes the operator's limits),
-- else spec.expiry.expiresAt, else creationTimestamp + spec.expiry.ttl. An
-- endpoint without any expiry is refused: it never expires, and putting it on
-- a one-hour meter would park it.
--
-- Argo CD runs actions without Lua's string library (only base, table and
-- os.time/os.date), so strings are read one character at a time by comparison:
-- with p the first k-1 characters of s, the k-th is the largest c in ALPHABET
-- with p .. c <= s (comparison is byte-wise). Times are computed with integer
-- arithmetic in UTC; os.time() with no argument is the only clock used
-- (os.time(table) and os.date(fmt, t) use the server's local zone).
local EXTEND_SECONDS = 3600

local ALPHABET = {"+", "-", ".", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", ":",
                  "T", "Z", "d", "h", "m", "s", "t", "w", "z"}
local DIGIT = {["0"] = 0, ["1"] = 1, ["2"] = 2, ["3"] = 3, ["4"] = 4,
               ["5"] = 5, ["6"] = 6, ["7"] = 7, ["8"] = 8, ["9"] = 9}
local UNIT = {s = 1, m = 60, h = 3600, d = 86400, w = 604800}

local function characters(s)
  local chars, prefix = {}, ""
  for k = 1, #s do
    local found = nil
    for i = #ALPHABET, 1, -1 do
      if prefix .. ALPHABET[i] <= s then
        found = ALPHABET[i]
        break
      end
    end
    if found == nil then
      return nil
    end
    chars[k] = found
    prefix = prefix .. found
  end
  if prefix ~= s then
    return nil -- a character outside ALPHABET
  end
  return chars
end

local function number(c, from, to)
  local n = 0
  for k = from, to do
    local d = DIGIT[c[k]]
    if d == nil then
      return nil
    end
    n = n * 10 + d
  end
  return n
end

local function floor_div(a, b)
  return (a - a % b) / b
end

-- Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
local function days_from_civil(y, m, d)
  if m <= 2 then
    y = y - 1
  end
  local era = floor_div(y, 400)
  local yoe = y - era * 400
  local doy = floor_div(153 * ((m + 9) % 12) + 2, 5) + d - 1
  local doe = yoe * 365 + floor_div(yoe, 4) - floor_div(yoe, 100) + doy
  return era * 146097 + doe - 719468
end

local function civil_from_days(z)
  z = z + 719468
  local era = floor_div(z, 146097)
  local doe = z - era * 146097
  local yoe = floor_div(doe - floor_div(doe, 1460) + floor_div(doe, 36524)
                        - floor_div(doe, 146096), 365)
  local doy = doe - (365 * yoe + floor_div(yoe, 4) - floor_div(yoe, 100))
  local mp = floor_div(5 * doy + 2, 153)
  local d = doy - floor_div(153 * mp + 2, 5) + 1
  local m = mp < 10 and mp + 3 or mp - 9
  local y = yoe + era * 400
  if m <= 2 then
    y = y + 1
  end
  return y, m, d
end

-- RFC 3339 (Z or an offset, optional fraction, dropped) -> Unix seconds, or nil.
local function parse_time(s)
  local c = characters(s)
  if c == nil or #c < 20 or c[5] ~= "-" or c[8] ~= "-" or c[14] ~= ":" or c[17] ~= ":"
     or (c[11] ~= "T" and c[11] ~= "t") then
    return nil
  end
  local y, mo, d = number(c, 1, 4), number(c, 6, 7), number(c, 9, 10)
  local h, mi, sec = number(c, 12, 13), number(c, 15, 16), number(c, 18, 19)
  if y == nil or mo == nil or d == nil or h == nil or mi == nil or sec == nil
     or mo < 1 or mo > 12 or d < 1 or d > 31 or h > 23 or mi > 59 or sec > 60 then
    return nil
  end
  local k = 20
  if c[k] == "." then
    k = k + 1
    while DIGIT[c[k]] ~= nil do
      k = k + 1
    end
  end
  local offset = 0
  if (c[k] == "Z" or c[k] == "z") and #c == k then
    offset = 0
  elseif (c[k] == "+" or c[k] == "-") and #c == k + 5 and c[k + 3] == ":" then
    local oh, om = number(c, k + 1, k + 2), number(c, k + 4, k + 5)
    if oh == nil or om == nil then
      return nil
    end
    offset = oh * 3600 + om * 60
    if c[k] == "-" then
      offset = -offset
    end
  else
    return nil
  end
  return days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset
end

-- "90m", "1h30m", "2d" -> seconds, or nil.
local function parse_duration(s)
  local c = characters(s)
  if c == nil or #c == 0 then
    return nil
  end
  local total, n, digits = 0, 0, 0
  for k = 1, #c do
    if DIGIT[c[k]] ~= nil then
      n, digits = n * 10 + DIGIT[c[k]], digits + 1
    elseif UNIT[c[k]] ~= nil and digits > 0 then
      total, n, digits = total + n * UNIT[c[k]], 0, 0
    else
      return nil
    end
  end
  if digits > 0 then
    return nil
  end
  return total
end

local function two(n)
  if n < 10 then
    return "0" .. tostring(n)
  end
  return tostring(n)
end

local function format_time(t)
  local days = floor_div(t, 86400)
  local secs = t - days * 86400
  local y, m, d = civil_from_days(days)
  return tostring(y) .. "-" .. two(m) .. "-" .. two(d) .. "T" .. two(floor_div(secs, 3600))
    .. ":" .. two(floor_div(secs % 3600, 60)) .. ":" .. two(secs % 60) .. "Z"
end

local function required(text, what)
  local t = parse_time(text)
  if t == nil then
    error("cannot read " .. what .. " " .. tostring(text) .. " as an RFC 3339 time", 0)
  end
  return t
end

local function current_expiry()
  local spec_expiry = (obj.spec or {}).expiry or {}
  if obj.status ~= nil and obj.status.expiresAt ~= nil then
    return required(obj.status.expiresAt, "status.expiresAt")
  end
  if spec_expiry.expiresAt ~= nil then
    return required(spec_expiry.expiresAt, "spec.expiry.expiresAt")
  end
  if spec_expiry.ttl ~= nil and obj.metadata.creationTimestamp ~= nil then
    local ttl = parse_duration(spec_expiry.ttl)
    if ttl == nil then
      error("cannot read spec.expiry.ttl " .. tostring(spec_expiry.ttl) .. " as a duration", 0)
    end
    return required(obj.metadata.creationTimestamp, "metadata.creationTimestamp") + ttl
  end
  return nil
end

local now = os.time()
local current = current_expiry()
if current == nil then
  error(obj.metadata.name .. " never expires (no spec.expiry and no operator default), so"
        .. " there is nothing to extend; set spec.expiry.ttl or spec.expiry.expiresAt", 0)
end
if current < now then
  current = now
end
if obj.spec.expiry == nil then
  obj.spec.expiry = {}
end
obj.spec.expiry.expiresAt = format_time(current + EXTEND_SECONDS)
return obj
