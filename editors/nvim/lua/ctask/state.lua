---@brief The client-side cache: lease state per task, workspaces, the current task.
---
--- Only the `ctask/*` handlers and command results write here; the statusline
--- only reads.

local protocol = require("ctask.protocol")

local M = {}

---@class ctask.LeaseInfo
---The last `ctask/leaseState` of a task (SPEC 4; `ctask.wire.LeaseState` in
---lua/ctask/protocol.lua) as it came: the task's `name`, `workspace`, `lease`
---(the same lease object as in `ctask.list`/`ctask.status` results),
---`tmux_session`, `tmux_alive`, `owned_here`, `error` — plus:
---@field name string
---@field workspace string
---@field lease ctask.wire.Lease
---@field tmux_session string
---@field tmux_alive boolean
---@field owned_here boolean
---@field error? string A corrupt lease or task.yaml, with its path and what to do.
---@field kind "owned"|"busy"|"remote"|"stale"|"none" Derived: what the statusline shows.
---@field age_s? number Seconds since `lease.heartbeat_at`, computed when |ctask.lease()| is called.
---@field repo? ctask.RepoInfo The task's repository and branch, when known (|ctask.lease()| adds it).
---@field activity? ctask.wire.Activity What the task's agent is doing, when known (|ctask.lease()| adds it).
---@field conversation_id? string The agent's conversation id, when known (|ctask.lease()| adds it).

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

---@class ctask.ActivityInfo
---The last `ctask/activity` of a task (or `activity` of a task object).
---@field activity? ctask.wire.Activity What the agent is doing; nil without a running session.
---@field conversation_id? string The agent's own conversation id.

--- Activity per task (SPEC 3.10), from `ctask/activity` and task objects.
---@type table<string, ctask.ActivityInfo>
M.activities = {}

--- The task the user acted on last (a command's argument or result).
---@type string?
M.last = nil

--- The client whose notifications filled the cache.
---@type integer?
M.client_id = nil

--- This Neovim's ctask-ls, once a lease it holds was announced (`owned_here`): its host and pid,
--- to tell "in use by HOST pid N" apart when that is this server.
---@type {host?: string, pid: integer}?
M.server = nil

--- The client asked once (`ctask.list`) for the repositories of the tasks it announces.
---@type integer?
M.repos_client = nil

--- Every client asked once (`ctask.list`): this machine's and each host's.
---@type table<integer, boolean>
M.repos_asked = {}

--- Lease fields that move without being a change of lease state (SPEC 4).
local VOLATILE = { heartbeat_at = true, age_s = true }

---@param info table
---@return "owned"|"busy"|"remote"|"stale"|"none"
local function kind_of(info)
  local s = protocol.lease_states
  local state = type(info.lease) == "table" and info.lease.state or nil
  if state == s.fresh_local then
    return info.owned_here and "owned" or "busy"
  elseif state == s.fresh_remote then
    return "remote"
  elseif state == s.stale then
    return "stale"
  end
  return "none"
end
M.kind_of = kind_of

---@param t table
---@return table
local function steady(t)
  local copy = vim.deepcopy(t)
  if type(copy.lease) == "table" then
    for k in pairs(VOLATILE) do
      copy.lease[k] = nil
    end
  end
  return copy
end

--- Seconds since the epoch of an RFC 3339 time (`2025-01-02T03:04:05Z`, or with an offset), or nil.
---@param text any
---@return number?
function M.epoch(text)
  if type(text) ~= "string" then
    return nil
  end
  local y, mo, d, h, mi, sec, rest = text:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)[Tt ](%d%d):(%d%d):(%d%d%.?%d*)(.*)$")
  if not y then
    return nil
  end
  local offset = 0
  if rest ~= "Z" and rest ~= "z" then
    local sign, oh, om = rest:match("^([+-])(%d%d):(%d%d)$")
    if not sign then
      return nil
    end
    offset = (tonumber(oh) * 3600 + tonumber(om) * 60) * (sign == "+" and 1 or -1)
  end
  -- Days from the civil date (proleptic Gregorian), as in Howard Hinnant's days_from_civil.
  y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
  if mo <= 2 then
    y = y - 1
  end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local doy = math.floor((153 * ((mo + 9) % 12) + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  local days = era * 146097 + doe - 719468
  return days * 86400 + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(sec) - offset
end

--- Seconds since a lease's heartbeat, now (never negative), or nil without one.
---@param lease? ctask.wire.Lease
---@return number?
function M.heartbeat_age(lease)
  local at = type(lease) == "table" and M.epoch(lease.heartbeat_at) or nil
  if not at then
    return nil
  end
  local sec, usec = vim.uv.gettimeofday()
  return math.max(0, sec + usec / 1e6 - at)
end

--- Whether a task name is another host's (`HOST:TASK`; a task's own name has no ':').
---@param name any
---@return boolean
function M.is_remote(name)
  return type(name) == "string" and name:find(":", 1, true) ~= nil
end

--- Record where a task's workspace is (for "the current task").
---@param name string
---@param path? string
function M.set_workspace(name, path)
  if type(path) ~= "string" or path == "" or M.is_remote(name) then -- another host's path is not here
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
  if task.activity ~= nil and M.activities[task.name] == nil then
    -- Only what no notification told yet: a notification may be newer than this result.
    M.update_activity(task)
  end
end

--- Store a task's activity (`ctask/activity` params, or a task object); returns whether its state
--- changed and the state before (nil: no activity).
---@param params table
---@return boolean changed, string? before
function M.update_activity(params)
  if type(params) ~= "table" or type(params.name) ~= "string" then
    return false, nil
  end
  local now = params.activity
  if type(now) ~= "table" or type(now.state) ~= "string" then
    now = nil
  else
    now = { state = now.state, since = now.since, source = now.source }
    if type(params.activity.message) == "string" then
      now.message = params.activity.message
    end
  end
  local conversation = type(params.conversation_id) == "string" and params.conversation_id or nil
  local old = M.activities[params.name]
  local before = old and old.activity and old.activity.state or nil
  M.activities[params.name] = { activity = now, conversation_id = conversation }
  return before ~= (now and now.state or nil), before
end

--- Store a `ctask/leaseState` payload; true when the lease state changed.
---@param params table
---@param client_id? integer
---@return boolean changed, ctask.LeaseInfo? info
function M.update_lease(params, client_id)
  if type(params) ~= "table" or type(params.name) ~= "string" then
    return false, nil
  end
  local remote = M.is_remote(params.name)
  if not remote then
    M.client_id = client_id or M.client_id
  end
  local info = vim.deepcopy(params) --[[@as ctask.LeaseInfo]]
  for _, t in ipairs({ info, info.lease }) do
    for k, v in pairs(type(t) == "table" and t or {}) do
      if v == vim.NIL then
        t[k] = nil
      end
    end
  end
  if type(info.lease) ~= "table" then
    info.lease = { state = protocol.lease_states.missing }
  end
  info.owned_here = info.owned_here == true
  info.kind = kind_of(info)
  if info.owned_here and not remote and type(info.lease.pid) == "number" then
    M.server = { host = type(info.lease.host) == "string" and info.lease.host or nil, pid = info.lease.pid }
  end
  M.set_workspace(info.name, info.workspace)
  local old = M.tasks[info.name]
  M.tasks[info.name] = info
  return old == nil or not vim.deep_equal(steady(old), steady(info)), info
end

--- Forget a removed task.
---@param name string
function M.forget(name)
  M.tasks[name] = nil
  M.activities[name] = nil
  M.workspaces[name] = nil
  M.repos[name] = nil
  if M.last == name then
    M.last = nil
  end
end

--- Forget everything this machine's stopped client told us (other hosts' tasks stay).
function M.clear()
  for _, tbl in ipairs({ M.tasks, M.activities }) do
    for name in pairs(tbl) do
      if not M.is_remote(name) then
        tbl[name] = nil
      end
    end
  end
  M.client_id = nil
  M.repos_client = nil
  M.server = nil
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

--- A copy of a task's cached lease, with `age_s` the heartbeat's age now (from `lease.heartbeat_at`).
---@param name string
---@return ctask.LeaseInfo?
function M.info(name)
  local info = M.tasks[name]
  if not info then
    return nil
  end
  local copy = vim.deepcopy(info)
  copy.repo = vim.deepcopy(M.repos[name])
  local act = M.activities[name]
  copy.activity = act and vim.deepcopy(act.activity) or nil
  copy.conversation_id = act and act.conversation_id or nil
  copy.age_s = M.heartbeat_age(copy.lease)
  return copy
end

return M
