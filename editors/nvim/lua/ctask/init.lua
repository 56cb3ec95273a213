---@brief ctask for Neovim: the public Lua API (see :help ctask-lua).
---
--- Every function works without setup(): the server starts on first use.

local M = {}

--- Configure the plugin and (with `autostart`, the default) start ctask-ls.
--- Works as a lazy.nvim `opts` target; may be called again to change options.
---@param opts? ctask.Config|table
function M.setup(opts)
  local config = require("ctask.config")
  local options = config.set(opts)
  require("ctask.hosts").prune() -- a host taken out of `hosts` goes, with what was shown of it
  local protocol = require("ctask.protocol")
  local client = require("ctask.client")
  local overrides = config.lsp_overrides(options, opts)
  if next(overrides) then
    vim.lsp.config(client.name, overrides)
  end
  if overrides.settings then
    client.push_settings(overrides.settings[protocol.settings_section])
  end
  if options.autostart then
    local _, why, missing = client.start()
    if missing then
      client.warn_missing(why --[[@as string]]) -- once, and no "Error detected while processing init.lua"
    elseif why then
      client.error(why)
    end
    require("ctask.hosts").autostart()
  end
end

--- Start a host's server again (`:Ctask reconnect HOST`), or every host's without `host`;
--- `cb(ok)` once it answers or not (see |ctask-hosts|).
---@param host? string
---@param cb? fun(ok: boolean)
function M.reconnect(host, cb)
  require("ctask.hosts").reconnect(host, cb)
end

--- The configured hosts and the state of each one's connection:
--- `{ {name, ssh, cmd, state = "up"|"starting"|"unreachable"|"stopped", error?} }`.
---@return table[]
function M.hosts()
  local hosts = require("ctask.hosts")
  return vim.tbl_map(function(h)
    local status = hosts.status[h.name] or {}
    local state = status.state or (hosts.client(h.name) and "starting" or "stopped")
    return { name = h.name, ssh = h.ssh, cmd = h.cmd, state = state, error = status.error }
  end, hosts.configured())
end

--- The current task's lease state and activity as a short string for 'statusline':
--- `"● NAME owned"`, `"◐ NAME pid N"`, `"◆ NAME @HOST"`, `"! NAME stale"`,
--- `"○ NAME none"`, followed by the agent's activity while a session runs
--- (`"● NAME owned ⚠ needs input"`), or `""` when there is no current task or no server.
--- With `{ highlight = true }`, `needs_input` is wrapped in the `CtaskNeedsInput` highlight
--- (for `%{%...%}` in 'statusline').
---@param opts? {highlight?: boolean}
---@return string
function M.statusline(opts)
  return require("ctask.statusline").render(opts)
end

--- The highlight group for the current task's statusline: `"CtaskNeedsInput"` while its agent
--- waits for you, else nil (e.g. lualine's `color`).
---@return string?
function M.statusline_highlight()
  return require("ctask.statusline").highlight()
end

--- The current task's name (see |ctask-current-task|), or nil.
---@return string?
function M.current_task()
  return require("ctask.state").current()
end

--- The cached `ctask/leaseState` of a task (default: the current one), with `age_s`, the heartbeat's age now.
---@param name? string
---@return ctask.LeaseInfo?
function M.lease(name)
  name = name or M.current_task()
  return name and require("ctask.state").info(name) or nil
end

--- Create a task and launch its agent. `opts` is a name or `{name, agent, description, args, repo, branch, base}`.
---@param opts? ctask.NewOpts|string
---@param cb? ctask.Callback
function M.new(opts, cb)
  require("ctask.actions").new(opts, cb)
end

--- New Task from This Repository: a task on the git repository of the current
--- directory (or `opts.repo`), in a worktree on a new branch. `opts` is a name
--- or `{name, branch, base, agent, description, args, repo}`.
---@param opts? ctask.NewOpts|string
---@param cb? ctask.Callback
function M.newrepo(opts, cb)
  require("ctask.actions").newrepo(opts, cb)
end

---@param name? string
---@param opts? {agent?: string}
---@param cb? ctask.Callback
function M.resume(name, opts, cb)
  require("ctask.actions").resume(name, opts, cb)
end

---@param opts? {agent?: string}
---@param cb? ctask.Callback
function M.last(opts, cb)
  require("ctask.actions").last(opts, cb)
end

---@param name? string
---@param cb? ctask.Callback
function M.open(name, cb)
  require("ctask.actions").open(name, cb)
end

---@param name? string
---@param cb? ctask.Callback
function M.attach(name, cb)
  require("ctask.actions").attach(name, cb)
end

---@param name? string
---@param cb? ctask.Callback
function M.stop(name, cb)
  require("ctask.actions").stop(name, cb)
end

---@param name? string
---@param cb? ctask.Callback
function M.diff(name, cb)
  require("ctask.actions").diff(name, cb)
end

---@param name? string
---@param limit? integer
---@param cb? ctask.Callback
function M.log(name, limit, cb)
  require("ctask.actions").log(name, limit, cb)
end

---@param cb? ctask.Callback
function M.list(cb)
  require("ctask.actions").list(cb)
end

---@param name? string
---@param cb? ctask.Callback
function M.status(name, cb)
  require("ctask.actions").status(name, cb)
end

---@param name string
---@param force? boolean
---@param cb? ctask.Callback
function M.remove(name, force, cb)
  require("ctask.actions").remove(name, force, cb)
end

--- Run any ctask command (`workspace/executeCommand`) with its one object argument.
---@param command string e.g. "ctask.status"
---@param args? table
---@param cb? ctask.Callback
function M.request(command, args, cb)
  require("ctask.client").execute(command, args, cb)
end

return M
