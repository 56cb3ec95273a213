---@brief The lease indicator: reads the cache, never the disk or the server.

local state = require("ctask.state")

local M = {}

---@param info ctask.LeaseInfo
---@return string
local function label(info)
  if info.kind == "owned" then
    return "owned"
  elseif info.kind == "busy" then
    return info.lease.pid and ("pid " .. info.lease.pid) or "busy"
  elseif info.kind == "remote" then
    return "@" .. tostring(info.lease.host or "remote")
  elseif info.kind == "stale" then
    return "stale"
  end
  return "none"
end
M.label = label

--- The current task's lease as a short string, "" when there is nothing to show.
---@return string
function M.render()
  local id = state.client_id
  local client = id and vim.lsp.get_client_by_id(id)
  if not client or client:is_stopped() then
    return ""
  end
  local name = state.current()
  local info = name and state.info(name)
  if not info then
    return ""
  end
  local opts = require("ctask.config").options.statusline
  if opts.format then
    local ok, text = pcall(opts.format, info)
    return ok and tostring(text or "") or ""
  end
  local text = ("%s %s %s"):format(opts.symbols[info.kind] or "", info.name, label(info))
  if info.repo then
    text = text .. " [" .. info.repo.branch .. "]"
  end
  return text
end

return M
