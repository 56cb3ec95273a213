---@brief The client-side cache: lease state per task, workspaces, the current task.
---
--- Only the `ctask/*` handlers and command results write here; the statusline
--- only reads.

local protocol = require("ctask.protocol")

local M = {}

---@class ctask.LeaseInfo
---The last `ctask/leaseState` payload of a task (SPEC 4), plus:
---@field name string
---@field workspace string
---@field state "missing"|"stale"|"fresh_local"|"fresh_remote"
---@field reason? string
---@field session_id? string
---@field host? string
---@field pid? integer
---@field agent? string
---@field mode? string
---@field heartbeat_at? string
---@field age_s? number Heartbeat age when the notification was sent.
---@field owner? "cli"|"server"
---@field started_at? string
---@field error? string A corrupt lease or task.yaml, with its path and what to do.
---@field tmux_session string
---@field tmux_alive boolean
---@field owned_here boolean
---@field kind "owned"|"busy"|"remote"|"stale"|"none" Derived: what the statusline shows.
---@field received_ms integer `vim.uv.now()` when the notification arrived.
---@field repo? ctask.RepoInfo The task's repository and branch, when known (|ctask.lease()| adds it).

---@type table<string, ctask.LeaseInfo>
M.tasks = {}

---@type table<string, {path: string, real: string}>
M.workspaces = {}

---@class ctask.RepoInfo
---The git repository of a task made from one (`repo` of `ctask.list`/`ctask.status`).
---@field path string The repository's top level.
---@field branch string The task's branch.
---@field base? string The commit the branch was made from.
---@field base_ref? string The ref given for it (`HEAD`, `main`, ...).
---@field worktree string The task's worktree, inside its workspace.

--- Repositories of the tasks on one, from list/status results (notifications lack them).
---@type table<string, ctask.RepoInfo>
M.repos = {}

--- The task the user acted on last (a command's argument or result).
---@type string?
M.last = nil

--- The client whose notifications filled the cache.
---@type integer?
M.client_id = nil

--- The client asked once (`ctask.list`) for the repositories of the tasks it announces.
---@type integer?
M.repos_client = nil

--- Fields that change without being a change of lease state (SPEC 4).
local VOLATILE = { heartbeat_at = true, age_s = true, received_ms = true }

---@param info table
---@return "owned"|"busy"|"remote"|"stale"|"none"
local function kind_of(info)
  local s = protocol.lease_states
  if info.state == s.fresh_local then
    return info.owned_here and "owned" or "busy"
  elseif info.state == s.fresh_remote then
    return "remote"
  elseif info.state == s.stale then
    return "stale"
  end
  return "none"
end
M.kind_of = kind_of

---@param a table
---@param b table
local function same(a, b)
  for k, v in pairs(a) do
    if not VOLATILE[k] and not vim.deep_equal(v, b[k]) then
      return false
    end
  end
  for k in pairs(b) do
    if not VOLATILE[k] and a[k] == nil then
      return false
    end
  end
  return true
end

--- Record where a task's workspace is (for "the current task").
---@param name string
---@param path? string
function M.set_workspace(name, path)
  if type(path) ~= "string" or path == "" then
    return
  end
  path = vim.fs.normalize(path)
  local known = M.workspaces[name]
  if known and known.path == path then
    return
  end
  M.workspaces[name] = { path = path, real = vim.uv.fs_realpath(path) or path }
end

--- Record (or, with nil, forget) the repository of a task from a task object's `repo`.
---@param name string
---@param repo any
function M.set_repo(name, repo)
  if type(name) ~= "string" then
    return
  end
  if type(repo) == "table" and type(repo.branch) == "string" then
    M.repos[name] = {
      path = repo.path,
      branch = repo.branch,
      base = repo.base ~= vim.NIL and repo.base or nil,
      base_ref = repo.base_ref ~= vim.NIL and repo.base_ref or nil,
      worktree = repo.worktree,
    }
  else
    M.repos[name] = nil
  end
end

--- What a `ctask.list`/`ctask.status` task object tells the cache: workspace and repository.
---@param task any
function M.learn(task)
  if type(task) ~= "table" or type(task.name) ~= "string" then
    return
  end
  M.set_workspace(task.name, task.workspace)
  M.set_repo(task.name, task.repo)
end

--- Store a `ctask/leaseState` payload; true when the lease state changed.
---@param params table
---@param client_id? integer
---@return boolean changed, ctask.LeaseInfo? info
function M.update_lease(params, client_id)
  if type(params) ~= "table" or type(params.name) ~= "string" then
    return false, nil
  end
  M.client_id = client_id or M.client_id
  local info = vim.deepcopy(params) --[[@as ctask.LeaseInfo]]
  for k, v in pairs(info) do
    if v == vim.NIL then
      info[k] = nil
    end
  end
  info.owned_here = info.owned_here == true
  info.kind = kind_of(info)
  info.received_ms = vim.uv.now()
  M.set_workspace(info.name, info.workspace)
  local old = M.tasks[info.name]
  M.tasks[info.name] = info
  return old == nil or not same(old, info), info
end

--- Forget a removed task.
---@param name string
function M.forget(name)
  M.tasks[name] = nil
  M.workspaces[name] = nil
  M.repos[name] = nil
  if M.last == name then
    M.last = nil
  end
end

--- Forget everything a stopped client told us.
function M.clear()
  M.tasks = {}
  M.client_id = nil
  M.repos_client = nil
end

--- Remember the task the user acted on.
---@param name? string
---@param workspace? string
function M.remember(name, workspace)
  if type(name) ~= "string" or name == "" then
    return
  end
  M.last = name
  M.set_workspace(name, workspace)
end

---@param path string absolute, normalized
---@return string?
local function task_containing(path)
  for name, ws in pairs(M.workspaces) do
    for _, root in ipairs({ ws.path, ws.real }) do
      if path == root or path:sub(1, #root + 1) == root .. "/" then
        return name
      end
    end
  end
end

--- The current task: the one whose workspace holds the buffer's file (or is
--- the buffer's ctask terminal), else the one holding the window's cwd, else
--- the last one acted on.
---@param buf? integer
---@return string?
function M.current(buf)
  buf = (buf == nil or buf == 0) and vim.api.nvim_get_current_buf() or buf
  local tagged = vim.b[buf].ctask_task
  if type(tagged) == "string" then
    return tagged
  end
  local file = vim.api.nvim_buf_get_name(buf)
  if file:sub(1, 1) == "/" then
    local hit = task_containing(vim.fs.normalize(file))
    if hit then
      return hit
    end
  end
  local cwd = vim.fn.getcwd()
  if cwd ~= "" then
    local hit = task_containing(vim.fs.normalize(cwd))
    if hit then
      return hit
    end
  end
  return M.last
end

--- A copy of a task's cached lease, with `age_s` brought up to now.
---@param name string
---@return ctask.LeaseInfo?
function M.info(name)
  local info = M.tasks[name]
  if not info then
    return nil
  end
  local copy = vim.deepcopy(info)
  copy.repo = vim.deepcopy(M.repos[name])
  if type(copy.age_s) == "number" then
    copy.age_s = copy.age_s + (vim.uv.now() - copy.received_ms) / 1000
  end
  return copy
end

return M
