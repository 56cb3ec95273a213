---@brief A task's changed files in the quickfix list.
---
--- Each task has one quickfix list, replaced in place on every `ctask/diff`
--- (so live updates do not pile up in the quickfix stack). Entry text is the
--- change: "added", "modified" or "deleted".

local state = require("ctask.state")

local M = {}

--- Quickfix list id per task.
---@type table<string, integer>
M.lists = {}

local KINDS = { "added", "modified", "deleted" }

---@param diff table `{added, modified, deleted}` lists of workspace-relative paths
---@param workspace? string
---@return vim.quickfix.entry[]
function M.items(name, diff, workspace)
  local items = {}
  for _, kind in ipairs(KINDS) do
    local paths = type(diff[kind]) == "table" and diff[kind] or {}
    for _, rel in ipairs(paths) do
      if type(rel) == "string" then
        items[#items + 1] = {
          filename = workspace and vim.fs.joinpath(workspace, rel) or rel,
          text = kind,
          valid = kind ~= "deleted" and 1 or 0,
          user_data = { ctask = { task = name, kind = kind, path = rel } },
        }
      end
    end
  end
  return items
end

---@param name string
---@param diff table
---@return string
local function title(name, diff)
  local when
  if diff.final == true then
    when = "final"
  elseif diff.live == false then
    when = "last session"
  else
    when = "live"
  end
  return ("ctask diff %s (%s)"):format(name, when)
end

--- The task's quickfix list id if it still exists.
---@param name string
---@return integer?
function M.list_id(name)
  local id = M.lists[name]
  if id and vim.fn.getqflist({ id = id }).id == id then
    return id
  end
end

--- Make the task's list the current quickfix list.
---@param name string
function M.select(name)
  local id = M.list_id(name)
  if not id then
    return
  end
  local target = vim.fn.getqflist({ id = id, nr = 0 }).nr
  local current = vim.fn.getqflist({ nr = 0 }).nr
  if target > current then
    vim.cmd("silent " .. (target - current) .. "cnewer")
  elseif target < current then
    vim.cmd("silent " .. (current - target) .. "colder")
  end
end

--- Fill (or refill) the quickfix list of task `name` from a diff payload.
---@param name string
---@param diff table `ctask/diff` params or a `ctask.diff` result
---@param opts? {open?: boolean, select?: boolean}
---@return integer id the quickfix list id
function M.set(name, diff, opts)
  opts = opts or {}
  local ws = diff.workspace
  if type(ws) ~= "string" then
    ws = state.workspaces[name] and state.workspaces[name].path
  end
  local what = {
    title = title(name, diff),
    items = M.items(name, diff, ws),
    context = { ctask = { task = name, session_id = diff.session_id, final = diff.final == true } },
  }
  local id = M.list_id(name)
  if id then
    what.id = id
    vim.fn.setqflist({}, "r", what)
  else
    -- At the end of the stack: the user's newer lists are kept.
    what.nr = "$"
    vim.fn.setqflist({}, " ", what)
    id = vim.fn.getqflist({ nr = "$", id = 0 }).id
    M.lists[name] = id
  end
  if opts.select then
    M.select(name)
  end
  if opts.open then
    vim.cmd("botright copen")
  end
  return id
end

return M
