-- Actions Argo CD offers on a ManagedEndpoint
-- (argocd-cm: resource.customizations.actions.sagemeter.io_ManagedEndpoint).
--   extend-1h  top up the meter: spec.expiry.expiresAt = max(now, expiry) + 1h
--   wake       resume after an idle park or spec.suspend (sets sagemeter.io/wake)
local actions = {}
actions["extend-1h"] = {["disabled"] = false, ["iconClass"] = "fa fa-fw fa-clock",
                        ["displayName"] = "Extend by 1 hour"}

local status = obj.status or {}
local suspended = obj.spec ~= nil and obj.spec.suspend == true
local idle = status.phase == "Parked" and status.parkedReason == "Idle"
actions["wake"] = {["disabled"] = not (idle or suspended), ["iconClass"] = "fa fa-fw fa-play",
                   ["displayName"] = "Wake"}
return actions
