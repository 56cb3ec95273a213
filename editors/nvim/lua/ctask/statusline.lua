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

--- The lease in the words and symbols of the statusline: `● owned`, `◐ pid 4711`, `◆ @buildbox`,
--- `! stale`, `○ none` (also in |:Ctask-list| and |:Ctask-status|).
---@param info {kind: string, lease: table}
---@return string
function M.lease_text(info)
  local symbol = require("ctask.config").options.statusline.symbols[info.kind] or ""
  return vim.trim(symbol .. " " .. label(info))
end

M.NEEDS_INPUT_HL = "CtaskNeedsInput"

--- The activity part: symbol and name (`⚠ needs input`), "" without one.
---@param activity? ctask.wire.Activity
---@return string
function M.activity_label(activity)
  if type(activity) ~= "table" or type(activity.state) ~= "string" then
    return ""
  end
  local symbols = require("ctask.config").options.statusline.activity
  local symbol = symbols[activity.state] or ""
  return vim.trim(symbol .. " " .. activity.state:gsub("_", " "))
end

--- The highlight group of the current task's state: `CtaskNeedsInput` while its agent waits for
--- you, else nil (for a statusline component's colour, e.g. lualine's `color`).
---@return string?
function M.highlight()
  local name = state.current()
  local info = name and state.info(name)
  if info and type(info.activity) == "table" and info.activity.state == "needs_input" then
    return M.NEEDS_INPUT_HL
  end
  return nil
end

--- The current task's lease and activity as a short string, "" when there is nothing to show.
--- With `opts.highlight`, a `needs_input` activity is wrapped in `%#CtaskNeedsInput#...%*` (for
--- `%{%...%}` in 'statusline').
---@param opts? {highlight?: boolean}
---@return string
function M.render(opts)
  local name = state.current()
  local hosts = require("ctask.hosts")
  local host = hosts.host_of(name)
  if host then
    -- Another host's task: `HOST:TASK` says where; a host that does not answer says so.
    local status = hosts.status[host]
    if status and status.state == "unreachable" then
      local symbol = require("ctask.config").options.statusline.symbols.unreachable
      return vim.trim(("%s %s unreachable"):format(symbol, name))
    end
    if not hosts.client(host) then
      return ""
    end
  else
    local id = state.client_id
    local client = id and vim.lsp.get_client_by_id(id)
    if not client or client:is_stopped() then
      return ""
    end
  end
  local info = name and state.info(name)
  if not info then
    return ""
  end
  local highlight = type(opts) == "table" and opts.highlight == true
  opts = require("ctask.config").options.statusline
  if opts.format then
    local ok, text = pcall(opts.format, info)
    return ok and tostring(text or "") or ""
  end
  local text = ("%s %s %s"):format(opts.symbols[info.kind] or "", info.name, label(info))
  if info.repo then
    text = text .. " [" .. info.repo.branch .. "]"
  end
  local doing = M.activity_label(info.activity)
  if doing ~= "" then
    if highlight and info.activity.state == "needs_input" then
      doing = "%#" .. M.NEEDS_INPUT_HL .. "#" .. doing .. "%*"
    end
    text = text .. " " .. doing
  end
  return text
end

return M
