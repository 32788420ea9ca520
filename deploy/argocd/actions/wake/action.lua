-- Argo CD action "wake": bring a ManagedEndpoint back, as `kubectl sagemeter
-- wake NAME` does: set the annotation sagemeter.io/wake to now (after an idle
-- park, a new value resumes the endpoint) and clear spec.suspend. Wake does not
-- top up the meter (use extend-1h) or override the schedule.
-- Argo CD runs actions without Lua's string library: the time is formatted
-- with integer arithmetic, in UTC, from os.time() (see extend-1h/action.lua).
local function floor_div(a, b)
  return (a - a % b) / b
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

if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["sagemeter.io/wake"] = format_time(os.time())
if obj.spec.suspend == true then
  obj.spec.suspend = false
end
return obj
