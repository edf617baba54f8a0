-- Argo CD health check for lattice.io/LatticeSandbox. Install it under
-- resource.customizations.health.lattice.io_LatticeSandbox in argocd-cm (see docs/operator.md).
-- Reads the same Ready condition and observedGeneration that kstatus (Flux) reads.
local hs = {}
if obj.metadata ~= nil and obj.metadata.deletionTimestamp ~= nil then
  hs.status = "Progressing"
  hs.message = "the sandbox is being deleted"
  return hs
end
if obj.status == nil or obj.status.conditions == nil then
  hs.status = "Progressing"
  hs.message = "waiting for the operator"
  return hs
end
if obj.status.observedGeneration == nil or obj.metadata.generation == nil
    or obj.status.observedGeneration < obj.metadata.generation then
  hs.status = "Progressing"
  hs.message = "the operator has not yet seen the latest spec"
  return hs
end
for _, c in ipairs(obj.status.conditions) do
  if c.type == "Ready" then
    if c.status == "True" then
      hs.status = "Healthy"
    elseif obj.status.phase == "Failed" then
      hs.status = "Degraded"
    elseif obj.status.phase == "Degraded" then
      hs.status = "Degraded"
    else
      hs.status = "Progressing"
    end
    hs.message = c.message
    return hs
  end
end
hs.status = "Progressing"
hs.message = "no Ready condition yet"
return hs
