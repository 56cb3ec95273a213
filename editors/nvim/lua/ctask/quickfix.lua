---@brief A task's changed files in the quickfix list.
---
--- Each task has one quickfix list, replaced in place on every `ctask/diff`
--- (so live updates do not pile up in the quickfix stack). Entry text is the
--- change: "added", "modified" or "deleted". For a task on a git repository
--- `ctask/diff` and `ctask.diff` also carry git's view: its entries follow, under the
--- worktree, with text "committed STATUS" (vs the base) or "uncommitted STATUS".
--- `<CR>` on one of ctask's own entries opens the file in a diff split against the
--- checkpoint the diff compares with (`quickfix.diff`; see ctask.review).

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
  vim.list_extend(items, M.git_items(name, diff.git))
  return items
end

local GIT_KINDS = { "committed", "uncommitted" }

--- Entries for git's view of a repo task (`git` of `ctask/diff` or `ctask.diff`):
--- the files committed on its branch since the base, then the uncommitted ones.
---@param name string
---@param git? table
---@return vim.quickfix.entry[]
function M.git_items(name, git)
  local items = {}
  if type(git) ~= "table" or git.error ~= nil or type(git.worktree) ~= "string" then
    return items
  end
  for _, kind in ipairs(GIT_KINDS) do
    local entries = type(git[kind]) == "table" and git[kind] or {}
    for _, e in ipairs(entries) do
      if type(e) == "table" and type(e.path) == "string" then
        local status = tostring(e.status or "?")
        items[#items + 1] = {
          filename = vim.fs.joinpath(git.worktree, e.path),
          text = ("%s %s"):format(kind, status),
          valid = status:find("D", 1, true) == nil and 1 or 0,
          user_data = { ctask = { task = name, kind = kind, status = status, path = e.path } },
        }
      end
    end
  end
  return items
end

--- One line of git's view of a repo task: branch, commits since the base,
--- committed and uncommitted files; nil when there is no git view.
---@param name string
---@param git? table
---@return string?
function M.git_line(name, git)
  if type(git) ~= "table" or type(git.branch) ~= "string" then
    return nil
  end
  if git.error ~= nil then
    return ("ctask: %s branch %s: git's view is unavailable: %s"):format(name, git.branch, tostring(git.error))
  end
  local counts = type(git.counts) == "table" and git.counts or {}
  local function count(key)
    return tonumber(counts[key]) or (type(git[key]) == "table" and #git[key]) or 0
  end
  local commits = count("commits")
  local base = type(git.base) == "string" and git.base:sub(1, 7) or "the base"
  return ("ctask: %s branch %s: %d commit%s since %s, %d committed, %d uncommitted"):format(
    name,
    git.branch,
    commits,
    commits == 1 and "" or "s",
    base,
    count("committed"),
    count("uncommitted")
  )
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
    context = {
      ctask = {
        task = name,
        session_id = diff.session_id,
        final = diff.final == true,
        checkpoint = type(diff.checkpoint) == "number" and diff.checkpoint or nil,
      },
    },
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
