-- Argo CD health of a sagemeter ManagedEndpoint
-- (argocd-cm: resource.customizations.health.sagemeter.io_ManagedEndpoint).
--   Degraded     phase Failed, or condition Degraded=True
--   Progressing  sagemeter has not seen the latest spec yet, or the endpoint is
--                Pending / Creating / Updating / Deleting
--   Healthy      Ready (InService)
--   Suspended    Parked: no endpoint and no cost until it resumes
-- Argo CD runs this without Lua's string library: only comparisons and `..`.
local hs = {}

local function condition(status, kind)
  if status.conditions == nil then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

local function describe(c, fallback)
  if c == nil then
    return fallback
  end
  local text = c.message or fallback
  if c.reason ~= nil then
    text = c.reason .. ": " .. text
  end
  return text
end

local status = obj.status
if status == nil or status.phase == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for sagemeter to reconcile the endpoint"
  return hs
end

local phase = status.phase
local degraded = condition(status, "Degraded")
if phase == "Failed" then
  hs.status = "Degraded"
  hs.message = describe(degraded, status.failureReason or "the SageMaker endpoint failed")
  if status.failureReason ~= nil and (degraded == nil or degraded.status ~= "True") then
    hs.message = "Failed: " .. status.failureReason
  end
  return hs
end
if degraded ~= nil and degraded.status == "True" then
  hs.status = "Degraded"
  hs.message = describe(degraded, "degraded")
  return hs
end

local generation = obj.metadata.generation
local observed = status.observedGeneration
if generation ~= nil and (observed == nil or observed < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for sagemeter to observe generation " .. tostring(generation)
  return hs
end

local ready = condition(status, "Ready")
if phase == "InService" or (ready ~= nil and ready.status == "True") then
  hs.status = "Healthy"
  hs.message = "Endpoint is serving"
  if status.expiresAt ~= nil then
    hs.message = hs.message .. " until " .. status.expiresAt
  end
  local expiring = condition(status, "ExpiringSoon")
  if expiring ~= nil and expiring.status == "True" then
    hs.message = hs.message .. " (expiring soon)"
  end
  return hs
end

if phase == "Parked" then
  hs.status = "Suspended"
  hs.message = "Parked"
  if status.parkedReason ~= nil then
    hs.message = "Parked (" .. status.parkedReason .. ")"
  end
  local parked = condition(status, "Parked")
  if parked ~= nil and parked.message ~= nil then
    hs.message = hs.message .. ": " .. parked.message
  end
  return hs
end

if phase == "Pending" or phase == "Creating" or phase == "Updating" or phase == "Deleting" then
  hs.status = "Progressing"
  hs.message = describe(ready, phase)
  if status.sagemakerStatus ~= nil then
    hs.message = hs.message .. " (SageMaker: " .. status.sagemakerStatus .. ")"
  end
  return hs
end

hs.status = "Unknown"
hs.message = "Unknown phase " .. tostring(phase)
return hs
