---@brief What each command does with the server's answer.

local client = require("ctask.client")
local protocol = require("ctask.protocol")
local state = require("ctask.state")

local C = protocol.commands
local M = {}

---@param result any
---@return string?
local function task_name(result)
  if type(result) ~= "table" then
    return nil
  end
  local task = result.task
  if type(task) == "table" then
    return task.name
  elseif type(task) == "string" then
    return task
  end
  return type(result.name) == "string" and result.name or nil
end

---@param result any
---@param repo? boolean The task is on a repository: its terminal runs in the worktree, not the workspace.
---@return string?
local function workspace_of(result, repo)
  if type(result) ~= "table" then
    return nil
  end
  if type(result.workspace) == "string" then
    return result.workspace
  end
  if type(result.task) == "table" and type(result.task.workspace) == "string" then
    return result.task.workspace
  end
  if not repo and type(result.terminal) == "table" and type(result.terminal.cwd) == "string" then
    return result.terminal.cwd
  end
end

--- Run a command; on success remember its task as the one acted on last.
---@param command string
---@param args? table
---@param cb ctask.Callback
local function execute(command, args, cb)
  client.execute(command, args, function(err, result)
    if not err and args and type(args.name) == "string" then
      state.remember(args.name, workspace_of(result, args.repo ~= nil or state.repos[args.name] ~= nil))
    end
    cb(err, result)
  end)
end

---@param cb? ctask.Callback
---@return ctask.Callback
local function wrap(cb)
  return cb or function() end
end

--- Handle the result of a launching command: remember the task, open its terminal.
---@param result table
---@param cb? ctask.Callback
local function launched(result, cb)
  local name = task_name(result)
  state.remember(name, workspace_of(result, name ~= nil and state.repos[name] ~= nil))
  local action = type(result) == "table" and result.action or nil
  if name and action == protocol.launch_actions.adopted then
    vim.notify(("ctask: adopted task %s: this Neovim now records its session"):format(name), vim.log.levels.INFO)
  elseif name and action == protocol.launch_actions.passive then
    vim.notify(
      ("ctask: task %s is owned by another process on this host; attaching without taking it over"):format(name),
      vim.log.levels.INFO
    )
  end
  if name and type(result) == "table" and type(result.terminal) == "table" then
    require("ctask.terminal").open(result.terminal, name)
  end
  wrap(cb)(nil, result)
end

---@alias ctask.TaskFilter "all"|"running"|"stopped"

--- Task names (sorted) that fit `filter`: "running" (a session runs: tmux is alive), "stopped"
--- (none runs) or "all" (default). From the server when it answers quickly, else from the cache.
---@param filter? ctask.TaskFilter
---@return string[]
function M.task_names(filter)
  local running = {} ---@type table<string, boolean>
  local hosts = require("ctask.hosts")
  local results = { client.execute_sync(C.list, nil, 1500) }
  for _, host in ipairs(hosts.names()) do
    -- Only a host whose server is up answers here (completion never waits for ssh).
    if (hosts.status[host] or {}).state == "up" then
      results[#results + 1] = client.execute_sync(C.list, nil, 1500, host)
    end
  end
  for _, result in pairs(results) do
    for _, task in ipairs(M.tasks_of(result)) do
      if type(task.name) == "string" then
        running[task.name] = task.tmux_alive == true
        state.learn(task)
      end
    end
  end
  for n, info in pairs(state.tasks) do
    local host = hosts.host_of(n)
    if running[n] == nil and (host == nil or (hosts.status[host] or {}).state == "up") then
      running[n] = info.tmux_alive == true
    end
  end
  local names = {}
  for n, alive in pairs(running) do
    if filter == nil or filter == "all" or (filter == "running") == alive then
      names[#names + 1] = n
    end
  end
  table.sort(names)
  return names
end

--- The task list of a `ctask.list` result (an array, or `{tasks = [...]}`).
---@param result any
---@return table[]
function M.tasks_of(result)
  if type(result) ~= "table" then
    return {}
  end
  if vim.islist(result) then
    return result
  end
  return type(result.tasks) == "table" and result.tasks or {}
end

--- Call `cb(name)` with NAME, else the current task, else the user's pick.
---@param name? string
---@param prompt string
---@param cb fun(name: string)
---@param opts? {current?: boolean}
function M.with_name(name, prompt, cb, opts)
  opts = opts or {}
  if type(name) == "string" and name ~= "" then
    return cb(require("ctask.hosts").normalize(name))
  end
  if opts.current ~= false then
    local current = state.current()
    if current then
      return cb(current)
    end
  end
  M.list_all(function(err, tasks)
    if err and #tasks == 0 then
      return
    end
    local names = vim.tbl_map(function(task)
      return task.name
    end, tasks)
    if #names == 0 then
      vim.notify("ctask: no tasks yet; create one with :Ctask new", vim.log.levels.WARN)
      return
    end
    vim.ui.select(names, { prompt = prompt, kind = "ctask_task" }, function(choice)
      if choice then
        cb(choice)
      end
    end)
  end)
end

---@class ctask.NewOpts
---@field name? string Task name; asked with |vim.ui.input()| when nil.
---@field agent? string One-shot agent command override.
---@field description? string
---@field args? string[] Arguments stored as the task's agent args.
---@field repo? string A directory inside a git repository: the task gets a worktree of it on a new branch.
---@field branch? string The new branch (default `ctask/NAME`); with `repo`.
---@field base? string The ref the branch starts from (default the repository's HEAD); with `repo`.
---@field prompt? string The |vim.ui.input()| prompt for the name.

--- An absolute path: `~` and `$VARS` expanded, relative to the current directory.
---@param path string
---@return string
local function absolute(path)
  path = vim.fn.fnamemodify(vim.fs.normalize(path), ":p")
  return #path > 1 and (path:gsub("/+$", "")) or path
end

--- Create a task and launch its agent; opens its terminal.
---@param opts? ctask.NewOpts|string
---@param cb? ctask.Callback
function M.new(opts, cb)
  if type(opts) == "string" then
    opts = { name = opts }
  end
  opts = opts or {}
  if opts.name == nil or opts.name == "" then
    vim.ui.input({ prompt = opts.prompt or "New task name: " }, function(input)
      if input and vim.trim(input) ~= "" then
        M.new(vim.tbl_extend("force", opts, { name = vim.trim(input) }), cb)
      end
    end)
    return
  end
  opts.name = require("ctask.hosts").normalize(opts.name)
  local remote = state.is_remote(opts.name)
  -- Another host's path is that host's: given as typed (relative to the home there).
  local repo = type(opts.repo) == "string" and opts.repo ~= "" and (remote and opts.repo or absolute(opts.repo)) or nil
  if repo == nil and (opts.branch or opts.base) then
    client.error("branch= and base= need repo=PATH (or :Ctask newrepo)")
    return wrap(cb)({ code = -32602, message = "branch and base need repo", data = { kind = "InvalidArgument" } }, nil)
  end
  local args = {
    name = opts.name,
    agent = opts.agent,
    description = opts.description,
    args = opts.args,
    repo = repo,
    branch = repo and opts.branch or nil,
    base = repo and opts.base or nil,
  }
  execute(C.new, args, function(err, result)
    if err then
      return wrap(cb)(err, nil)
    end
    if repo then
      -- The branch at once (for the statusline), then the server's own account.
      state.set_repo(opts.name, {
        path = repo,
        branch = opts.branch or (protocol.default_branch_prefix .. opts.name),
        base = opts.base,
        worktree = type(result) == "table" and type(result.terminal) == "table" and result.terminal.cwd or nil,
      })
      client.execute(C.status, { name = opts.name }, function(serr, status)
        if not serr and type(status) == "table" and type(status.repo) == "table" then
          state.set_repo(opts.name, status.repo)
          pcall(vim.cmd.redrawstatus, { bang = true })
        end
      end, { silent = true })
    end
    launched(result, cb)
  end)
end

--- Create a task on the git repository of the current directory (|getcwd()|):
--- a worktree on a new branch, where its agent runs.
---@param opts? ctask.NewOpts|string
---@param cb? ctask.Callback
function M.newrepo(opts, cb)
  if type(opts) == "string" then
    opts = { name = opts }
  end
  opts = vim.deepcopy(opts or {})
  if type(opts.name) == "string" and state.is_remote(require("ctask.hosts").normalize(opts.name)) and (opts.repo == nil or opts.repo == "") then
    client.error(("newrepo uses this machine's current directory; on another host use :Ctask new %s repo=PATH"):format(opts.name))
    return wrap(cb)({ code = -32602, message = "newrepo is for this machine", data = { kind = "InvalidArgument" } }, nil)
  end
  if opts.repo == nil or opts.repo == "" then
    opts.repo = vim.fn.getcwd()
  end
  opts.prompt = opts.prompt or ("New task on the repository of %s: "):format(vim.fn.fnamemodify(opts.repo, ":~"))
  M.new(opts, cb)
end

--- Attach to, adopt, or start a new session of a task.
---@param name? string
---@param opts? {agent?: string}
---@param cb? ctask.Callback
function M.resume(name, opts, cb)
  if type(opts) == "function" then
    opts, cb = nil, opts
  end
  opts = opts or {}
  M.with_name(name, "Resume task", function(n)
    execute(C.resume, { name = n, agent = opts.agent }, function(err, result)
      if err then
        return wrap(cb)(err, nil)
      end
      launched(result, cb)
    end)
  end, { current = false })
end

--- Resume the task updated most recently.
---@param opts? {agent?: string}
---@param cb? ctask.Callback
function M.last(opts, cb)
  if type(opts) == "function" then
    opts, cb = nil, opts
  end
  opts = opts or {}
  execute(C.last, { agent = opts.agent }, function(err, result)
    if err then
      return wrap(cb)(err, nil)
    end
    launched(result, cb)
  end)
end

--- Open a task's workspace: its terminal when the server returns one, else
--- the folder in a new tab with a tab-local cwd (|:tcd|).
---@param name? string
---@param cb? ctask.Callback
function M.open(name, cb)
  M.with_name(name, "Open task", function(n)
    execute(C.open, { name = n }, function(err, result)
      if err then
        return wrap(cb)(err, nil)
      end
      if type(result) == "table" and type(result.terminal) == "table" then
        return launched(result, cb)
      end
      local folder = type(result) == "table" and (result.folder or result.path or workspace_of(result))
      if type(result) == "string" then
        folder = result
      end
      if type(folder) == "string" and folder:match("^file://") then
        folder = vim.uri_to_fname(folder)
      end
      if type(folder) ~= "string" then
        client.error("the server returned no folder for task " .. n)
        return wrap(cb)(nil, result)
      end
      -- The folder of a repo task is its worktree, inside the workspace.
      state.remember(n, type(result) == "table" and type(result.workspace) == "string" and result.workspace or folder)
      vim.cmd("tabnew")
      vim.cmd.tcd(vim.fn.fnameescape(folder))
      vim.cmd.edit(vim.fn.fnameescape(folder))
      wrap(cb)(nil, result)
    end)
  end, { current = false })
end

--- Open a terminal on a task's running session (adopting it if orphaned).
---@param name? string
---@param cb? ctask.Callback
function M.attach(name, cb)
  M.with_name(name, "Attach to task", function(n)
    execute(C.attach, { name = n }, function(err, result)
      if err then
        return wrap(cb)(err, nil)
      end
      launched(result, cb)
    end)
  end)
end

--- End a task's session; its owner records it.
---@param name? string
---@param cb? ctask.Callback
function M.stop(name, cb)
  M.with_name(name, "Stop task", function(n)
    execute(C.stop, { name = n }, function(err, result)
      if not err and type(result) == "table" then
        -- A session this server recorded was already announced by ctask/sessionEnded.
        local announced = result.finalized == true and require("ctask.config").options.notify_session_end
        if not announced then
          local what = result.finalized == true and "stopped" or "stopping"
          local tail = result.finalized == true and "" or "; its owner records the session"
          vim.notify(("ctask: %s task %s%s"):format(what, n, tail), vim.log.levels.INFO)
        end
      end
      wrap(cb)(err, result)
    end)
  end)
end

--- Fill the quickfix list with a task's changes (live while it runs, else the
--- last session's) and open it.
---@param name? string
---@param cb? ctask.Callback
function M.diff(name, cb)
  M.with_name(name, "Show changes of task", function(n)
    execute(C.diff, { name = n }, function(err, result)
      if err then
        return wrap(cb)(err, nil)
      end
      if type(result) == "table" then
        local qf = require("ctask.quickfix")
        qf.set(n, result, { select = true, open = true })
        local items = vim.fn.getqflist({ id = qf.lists[n], size = 0 }).size
        if items == 0 then
          vim.notify(("ctask: task %s: no changes"):format(n), vim.log.levels.INFO)
        end
        local line = qf.git_line(n, result.git)
        if line then
          vim.notify(line, result.git.error and vim.log.levels.WARN or vim.log.levels.INFO)
        end
      end
      wrap(cb)(nil, result)
    end)
  end)
end

---@param name string
---@param lines string[]
---@param on_enter? fun(line: integer)
---@return integer buf
local function scratch(name, lines, on_enter)
  local buf = vim.fn.bufnr(name)
  if buf == -1 then
    buf = vim.api.nvim_create_buf(false, true)
    vim.api.nvim_buf_set_name(buf, name)
    vim.bo[buf].bufhidden = "wipe"
    vim.bo[buf].swapfile = false
    vim.bo[buf].filetype = "ctask"
  end
  vim.bo[buf].modifiable = true
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].modifiable = false
  local win = vim.fn.bufwinid(buf)
  if win == -1 then
    vim.cmd("botright split")
    vim.api.nvim_win_set_buf(0, buf)
    vim.api.nvim_win_set_height(0, math.min(math.max(#lines, 3), 15))
  else
    vim.api.nvim_set_current_win(win)
  end
  vim.keymap.set("n", "q", "<cmd>close<cr>", { buffer = buf, nowait = true, desc = "Close" })
  if on_enter then
    vim.keymap.set("n", "<CR>", function()
      on_enter(vim.api.nvim_win_get_cursor(0)[1])
    end, { buffer = buf, desc = "Resume the task on this line" })
  end
  return buf
end

---@param counts any
local function counts_text(counts)
  counts = type(counts) == "table" and counts or {}
  return ("+%d ~%d -%d"):format(
    tonumber(counts.added) or 0,
    tonumber(counts.modified) or 0,
    tonumber(counts.deleted) or 0
  )
end

local LIST_NS = vim.api.nvim_create_namespace("ctask_list")

--- An activity and its age: `⚠ needs input 12s`, "-" without one.
---@param act? ctask.wire.Activity
---@return string
local function activity_text(act)
  if type(act) ~= "table" then
    return "-"
  end
  local text = require("ctask.statusline").activity_label(act)
  local since = state.epoch(act.since)
  if since then
    local age = math.max(0, math.floor(os.time() - since))
    text = text .. " " .. (age < 120 and (age .. "s") or (math.floor(age / 60) .. "m"))
  end
  return text
end
M.activity_text = activity_text

--- A task's lease as the statusline shows it (|ctask-statusline|): the server's latest
--- `ctask/leaseState` says whether this Neovim's server owns it.
---@param task ctask.wire.Task
---@return string
local function lease_text(task)
  local lease = type(task.lease) == "table" and task.lease or { state = protocol.lease_states.missing }
  local cached = state.tasks[task.name]
  local mine = cached ~= nil and cached.owned_here and cached.lease.pid == lease.pid
  return require("ctask.statusline").lease_text({ kind = state.kind_of({ lease = lease, owned_here = mine }), lease = lease })
end
M.lease_text = lease_text

--- Rows of cells as lines, each column as wide as its widest cell (display width: the symbols).
---@param rows string[][]
---@return string[]
local function columns(rows)
  local widths = {}
  for _, row in ipairs(rows) do
    for i, cell in ipairs(row) do
      widths[i] = math.max(widths[i] or 0, vim.fn.strdisplaywidth(cell))
    end
  end
  return vim.tbl_map(function(row)
    local cells = {}
    for i, cell in ipairs(row) do
      cells[i] = i < #row and (cell .. (" "):rep(widths[i] - vim.fn.strdisplaywidth(cell))) or cell
    end
    return (table.concat(cells, "  "):gsub("%s+$", ""))
  end, rows)
end

--- The header line of |:Ctask-list|.
M.LIST_HEADER = { "TASK", "LEASE", "TMUX", "ACTIVITY", "UPDATED", "LAST SESSION", "BRANCH" }

--- Every task of this machine and of every host (|ctask-hosts|), asked at once: `cb(err, tasks,
--- unreachable)` with this machine's tasks first, then each host's in the order of `hosts` (named
--- `HOST:TASK`, with `host` set); `unreachable` lists `{host, error}` of the hosts that did not
--- answer within `hosts.list_timeout_ms` (each also reported in one WARN line); `err` is this
--- machine's server's failure (already shown).
---@param cb fun(err: lsp.ResponseError?, tasks: table[], unreachable: {host: string, error: string}[])
function M.list_all(cb)
  local hosts = require("ctask.hosts")
  local names = hosts.names()
  if #names == 0 then
    return execute(C.list, nil, function(err, result)
      cb(err, M.tasks_of(result), {})
    end)
  end
  local per, failed, local_err = {}, {}, nil
  local left = 1 + #names
  local function one_done()
    left = left - 1
    if left > 0 then
      return
    end
    local tasks, unreachable = {}, {}
    for _, key in ipairs({ hosts.LOCAL, unpack(names) }) do
      vim.list_extend(tasks, per[key] or {})
      if failed[key] then
        unreachable[#unreachable + 1] = { host = key, error = failed[key] }
      end
    end
    cb(local_err, tasks, unreachable)
  end
  execute(C.list, nil, function(err, result)
    if err then
      local_err, failed[hosts.LOCAL] = err, client.one_line(err.message)
    else
      per[hosts.LOCAL] = vim.tbl_map(function(task)
        return vim.tbl_extend("force", task, { host = hosts.LOCAL })
      end, M.tasks_of(result))
    end
    one_done()
  end)
  for _, host in ipairs(names) do
    client.execute(C.list, nil, function(err, result)
      if err then
        failed[host] = client.one_line(err.message)
        hosts.report(
          type(err.data) == "table" and err.data.kind == "HostUnreachable" and failed[host]
            or ("host %s: %s"):format(host, failed[host]),
          vim.log.levels.WARN
        )
      else
        per[host] = M.tasks_of(result)
      end
      one_done()
    end, { host = host, silent = true, timeout_ms = hosts.list_timeout_ms })
  end
end

--- Show every task (lease, tmux, activity, last session) in a scratch window, under a header;
--- with `hosts`, a HOST column first and a row for each host that did not answer.
---@param cb? ctask.Callback
function M.list(cb)
  local multi = require("ctask.hosts").enabled()
  M.list_all(function(err, tasks, unreachable)
    if err and not multi then
      return wrap(cb)(err, nil)
    end
    local header = multi and { "HOST", unpack(M.LIST_HEADER) } or M.LIST_HEADER
    local rows, names, waiting = { header }, {}, {}
    for _, task in ipairs(tasks) do
      state.learn(task)
      local last = type(task.last_summary) == "table" and task.last_summary or nil
      local repo = state.repos[task.name]
      local known = state.activities[task.name]
      local act = known and known.activity or nil
      rows[#rows + 1] = {
        multi and (task.name:match("^[^:]+:(.+)$") or task.name) or task.name,
        lease_text(task),
        task.tmux_alive and "running" or "-",
        activity_text(act),
        type(task.updated_at) == "string" and task.updated_at or "",
        last and (tostring(last.end_reason or "") .. " " .. counts_text(last.counts)) or "",
        repo and ("[" .. repo.branch .. "]") or "",
      }
      if multi then
        table.insert(rows[#rows], 1, type(task.host) == "string" and task.host or require("ctask.hosts").LOCAL)
      end
      names[#rows] = task.name
      waiting[#rows] = act ~= nil and act.state == "needs_input"
    end
    for _, gone in ipairs(unreachable) do
      -- Nothing about its tasks is guessed: one row saying the host did not answer.
      rows[#rows + 1] = { gone.host, "-", require("ctask.config").options.statusline.symbols.unreachable .. " unreachable" }
    end
    local result = { tasks = tasks, unreachable = unreachable }
    if #tasks == 0 and #unreachable == 0 then
      vim.notify("ctask: no tasks yet; create one with :Ctask new", vim.log.levels.INFO)
      return wrap(cb)(nil, multi and result or tasks)
    end
    local lines = columns(rows)
    local buf = scratch("ctask://list", lines, function(lnum)
      if names[lnum] then
        M.resume(names[lnum])
      end
    end)
    require("ctask.handlers").define_highlights()
    vim.api.nvim_buf_clear_namespace(buf, LIST_NS, 0, -1)
    vim.api.nvim_buf_set_extmark(buf, LIST_NS, 0, 0, { end_col = #lines[1], hl_group = "Title" })
    for lnum, yes in pairs(waiting) do
      if yes then
        vim.api.nvim_buf_set_extmark(buf, LIST_NS, lnum - 1, 0, {
          end_row = lnum - 1,
          end_col = #lines[lnum],
          hl_group = require("ctask.statusline").NEEDS_INPUT_HL,
        })
      end
    end
    wrap(cb)(nil, multi and result or tasks)
  end)
end

--- Show a task's session history in a scratch window.
---@param name? string
---@param limit? integer
---@param cb? ctask.Callback
function M.log(name, limit, cb)
  M.with_name(name, "Show log of task", function(n)
    execute(C.log, { name = n, limit = limit }, function(err, result)
      if err then
        return wrap(cb)(err, nil)
      end
      local sessions = result
      if type(result) == "table" and not vim.islist(result) then
        sessions = result.sessions or {}
        for _, w in ipairs(type(result.warnings) == "table" and result.warnings or {}) do
          vim.notify("ctask: " .. client.text(w), vim.log.levels.WARN)
        end
      end
      local lines = {}
      for _, s in ipairs(type(sessions) == "table" and sessions or {}) do
        lines[#lines + 1] = ("%-20s %6ss %-18s %-12s %s%s"):format(
          tostring(s.started_at or ""),
          tostring(s.duration_s or "?"),
          tostring(s.end_reason or ""),
          counts_text(s.counts),
          tostring(s.session_id or ""),
          type(s.exit_status) == "number" and (" exit " .. s.exit_status) or ""
        )
      end
      if #lines == 0 then
        vim.notify(("ctask: task %s has no finished session yet"):format(n), vim.log.levels.INFO)
      else
        scratch("ctask://log/" .. n, lines)
      end
      wrap(cb)(nil, result)
    end)
  end)
end

--- One line about a task: lease, tmux, activity, last session.
---@param name? string
---@param cb? ctask.Callback
function M.status(name, cb)
  M.with_name(name, "Status of task", function(n)
    execute(C.status, { name = n }, function(err, result)
      if err then
        return wrap(cb)(err, nil)
      end
      if type(result) == "table" then
        state.learn(vim.tbl_extend("keep", { name = n }, result))
        local lease = type(result.lease) == "table" and result.lease or {}
        local parts = { "lease " .. lease_text(vim.tbl_extend("keep", { name = n }, result)) }
        if lease.host and lease.pid then
          parts[#parts] = parts[#parts] .. (" (%s pid %s)"):format(lease.host, tostring(lease.pid))
        end
        parts[#parts + 1] = result.tmux_alive and "tmux running" or "no tmux session"
        if type(result.activity) == "table" then
          parts[#parts + 1] = activity_text(result.activity)
        end
        local last = type(result.last_summary) == "table" and result.last_summary or nil
        if last then
          parts[#parts + 1] = "last " .. tostring(last.end_reason or "?") .. " " .. counts_text(last.counts)
        end
        local repo = state.repos[n]
        if repo then
          parts[#parts + 1] = ("branch %s of %s"):format(repo.branch, vim.fn.fnamemodify(tostring(repo.path), ":~"))
        end
        vim.notify(("ctask: %s: %s"):format(n, table.concat(parts, ", ")), vim.log.levels.INFO)
      end
      wrap(cb)(nil, result)
    end)
  end)
end

--- Remove a task and its workspace, after confirmation. Without `force`, a task that is leased
--- or running, or whose worktree has uncommitted changes or unmerged commits (or whose repository
--- is gone), is refused before the question, with what to do: the server checks without removing
--- (`ctask.remove` with `dry_run`). With `force` it checks nothing (a task whose metadata is
--- corrupt is removed all the same) and the question says what forcing means. A task on a
--- repository may have its branch deleted too.
---@param name string
---@param force? boolean
---@param cb? ctask.Callback
function M.remove(name, force, cb)
  M.with_name(name, "Remove task", function(n)
    client.execute(C.remove, { name = n, dry_run = true, force = force or nil }, function(err, checked)
      if err then
        return wrap(cb)(err, nil)
      end
      M.confirm_remove(n, force, cb, type(checked) == "table" and checked.branch or nil)
    end)
  end, { current = false })
end

--- Ask, then remove (|ctask.remove()| once the task passed the checks).
---@param n string
---@param force? boolean
---@param cb? ctask.Callback
---@param branch? string a repo task's branch, as the server's check named it
function M.confirm_remove(n, force, cb, branch)
  branch = branch or (state.repos[n] and state.repos[n].branch)
  local delete = branch and ("Remove and delete branch " .. branch) or nil
  local what = branch and " and its workspace (with the worktree)" or " and its workspace"
  local forced = branch and " (even if running, with uncommitted changes or unmerged commits)" or " (even if running)"
  local prompt = ("Remove task %s%s%s?"):format(n, what, force and forced or "")
  local items = delete and { "Remove", delete, "Cancel" } or { "Remove", "Cancel" }
  vim.ui.select(items, { prompt = prompt, kind = "ctask_confirm" }, function(choice)
    if choice ~= "Remove" and (delete == nil or choice ~= delete) then
      return
    end
    local args = { name = n, force = force or nil, delete_branch = (delete ~= nil and choice == delete) or nil }
    execute(C.remove, args, function(err, result)
      if not err then
        state.forget(n)
        pcall(vim.cmd.redrawstatus, { bang = true })
        local branch = type(result) == "table" and result.branch_deleted == true
            and (" and branch " .. tostring(result.branch or branch))
          or ""
        vim.notify(("ctask: removed task %s%s"):format(n, branch), vim.log.levels.INFO)
        for _, w in ipairs(type(result) == "table" and type(result.warnings) == "table" and result.warnings or {}) do
          vim.notify("ctask: " .. client.text(w), vim.log.levels.WARN)
        end
      end
      wrap(cb)(err, result)
    end)
  end)
end

return M
