---@brief The one ctask-ls client: find or start it, run commands on it.
---
--- The server needs no buffer: it is started with `vim.lsp.start(config,
--- {attach = false})` from the resolved `vim.lsp.config.ctask` (lsp/ctask.lua
--- plus the user's `vim.lsp.config("ctask", ...)` plus `setup()`), and it is
--- the same client `vim.lsp.enable("ctask")` reuses, so there is only ever one.

local protocol = require("ctask.protocol")

local M = {}

--- The server's name, as `vim.lsp.config` and `vim.lsp.enable` know it (lsp/ctask.lua).
M.name = "ctask"

--- How long a command waits for the server to finish initializing.
M.start_timeout_ms = 15000

---@class ctask.ExitInfo
---@field code integer
---@field signal integer
---@field cmd string

--- Exit status of the last ctask-ls process that stopped (for :checkhealth).
---@type ctask.ExitInfo?
M.last_exit = nil

---@param msg string
---@return string
local function one_line(msg)
  msg = vim.trim((tostring(msg or "unknown error"):gsub("%s*\n%s*", " ")))
  return (msg:gsub("^ctask:%s*", ""))
end
M.one_line = one_line

--- The server's words in Neovim's (lua/ctask/messages.lua): one line, `:Ctask` hints instead of
--- shell ones, "by HOST pid N" marked when that is this Neovim's own ctask-ls.
---@param msg string
---@return string
function M.text(msg)
  local messages = require("ctask.messages")
  return messages.rewrite(messages.mark_own(one_line(msg), require("ctask.state").server))
end

--- Show a failure as one line at ERROR level.
---@param msg string
function M.error(msg)
  vim.notify("ctask: " .. M.text(msg), vim.log.levels.ERROR)
end

--- The ctask_ls checkout this plugin is part of (editors/nvim of it), or nil.
---@return string?
local function checkout()
  local here = debug.getinfo(1, "S").source:gsub("^@", "")
  here = vim.uv.fs_realpath(here) or here -- a symlinked pack/*/opt/ctask
  local root = vim.fn.fnamemodify(here, ":p:h:h:h:h:h")
  local pyproject = vim.fs.joinpath(root, "pyproject.toml")
  if vim.fn.filereadable(pyproject) ~= 1 then
    return nil
  end
  local head = table.concat(vim.fn.readfile(pyproject, "", 20), "\n")
  return head:find('name = "ctask-ls"', 1, true) and root or nil
end

--- How to install ctask-ls: `pipx install` of the checkout this plugin came from.
---@return string
function M.install_command()
  local root = checkout()
  if not root then
    return "pipx install /path/to/ctask_ls (a checkout of the ctask_ls repository)"
  end
  root = vim.fn.fnamemodify(root, ":~")
  return "pipx install " .. (root:find("[%s'\"]") and vim.fn.shellescape(root) or root)
end

--- Whether the missing-server warning was shown (it is shown once).
M.missing_warned = false

--- The server command is not installed: one WARN line, once per Neovim (setup() in init.lua
--- must not turn a missing program into "Error detected while processing init.lua").
---@param why string
function M.warn_missing(why)
  if M.missing_warned then
    return
  end
  M.missing_warned = true
  vim.notify("ctask: " .. one_line(why), vim.log.levels.WARN)
end

--- Why an initialized client's server cannot be used: it speaks another protocol
--- (`capabilities.experimental.ctask.protocol` of `initialize`: an older or newer ctask), in one
--- line with what to do; nil when it speaks this plugin's. The client is stopped then.
---@param client vim.lsp.Client
---@param host? string another host's name (|ctask-hosts|)
---@return string?
function M.protocol_mismatch(client, host)
  local experimental = (client.server_capabilities or {}).experimental
  local ours = type(experimental) == "table" and type(experimental.ctask) == "table" and experimental.ctask or {}
  if ours.protocol == protocol.protocol_version then
    return nil
  end
  client:stop(true)
  local what = type(ours.version) == "string"
      and ("ctask-ls %s (protocol %s)"):format(ours.version, tostring(ours.protocol))
    or "an older ctask-ls"
  return ("%s runs %s, and this plugin speaks protocol %d: install the same ctask there (pipx upgrade ctask-ls)"):format(
    host and ("host " .. host) or "this machine",
    what,
    protocol.protocol_version
  )
end

--- The running ctask-ls client (initialized or not), or nil.
---@return vim.lsp.Client?
function M.get()
  for _, c in ipairs(vim.lsp.get_clients({ name = M.name, _uninitialized = true })) do
    if not c:is_stopped() then
      return c
    end
  end
end

--- The resolved configuration, or nil and why.
---@return vim.lsp.Config?, string?
function M.config()
  local ok, cfg = pcall(function()
    return vim.lsp.config[M.name]
  end)
  if not ok or type(cfg) ~= "table" then
    return nil, "no LSP configuration named 'ctask' (is editors/nvim on 'runtimepath'?)"
  end
  return cfg
end

--- The running client, else a new one started without attaching a buffer. When it cannot start:
--- nil, why, and whether that is because the server command is not installed.
---@return vim.lsp.Client?, string?, boolean?
function M.start()
  local running = M.get()
  if running then
    return running
  end
  local cfg, why = M.config()
  if not cfg then
    return nil, why
  end
  local cmd = cfg.cmd
  if type(cmd) == "table" and vim.fn.executable(cmd[1]) ~= 1 then
    return nil,
      ("%s not found on PATH: install it (%s) or set `cmd` in setup(); :checkhealth ctask says more"):format(
        cmd[1],
        M.install_command()
      ),
      true
  end
  local id = vim.lsp.start(vim.deepcopy(cfg), { attach = false, silent = true })
  local client = id and vim.lsp.get_client_by_id(id)
  if not client then
    return nil, "ctask-ls did not start; see :checkhealth ctask and :LspLog"
  end
  return client
end

--- Call `on(outcome)` once a starting client is "initialized", has "stopped", or is still
--- starting after `timeout_ms` ("timeout"); this machine's client and the hosts' (ctask.hosts).
---@param client vim.lsp.Client
---@param timeout_ms integer
---@param on fun(outcome: "initialized"|"stopped"|"timeout")
function M.await_init(client, timeout_ms, on)
  local deadline = vim.uv.now() + timeout_ms
  local timer = assert(vim.uv.new_timer())
  timer:start(
    20,
    20,
    vim.schedule_wrap(function()
      if timer:is_closing() then
        return
      end
      local outcome
      if client.initialized then
        outcome = "initialized"
      elseif client:is_stopped() then
        outcome = "stopped"
      elseif vim.uv.now() > deadline then
        outcome = "timeout"
      else
        return
      end
      timer:stop()
      timer:close()
      on(outcome)
    end)
  )
end

--- Call `cb(client)` once the server is initialized, or `cb(nil, why)`.
---@param cb fun(client: vim.lsp.Client?, why: string?)
---@param timeout_ms? integer
function M.when_ready(cb, timeout_ms)
  local client, why = M.start()
  if not client then
    return cb(nil, why)
  end
  if client.initialized then
    local mismatch = M.protocol_mismatch(client)
    return mismatch and cb(nil, mismatch) or cb(client)
  end
  M.await_init(client, timeout_ms or M.start_timeout_ms, function(outcome)
    if outcome == "initialized" then
      local mismatch = M.protocol_mismatch(client)
      return mismatch and cb(nil, mismatch) or cb(client)
    elseif outcome == "stopped" then
      local exit = M.last_exit
      return cb(
        nil,
        exit and ("ctask-ls exited with code %d during start; see :checkhealth ctask"):format(exit.code)
          or "ctask-ls stopped during start; see :checkhealth ctask"
      )
    end
    cb(nil, "ctask-ls did not finish starting; see :checkhealth ctask")
  end)
end

---@param args? table
local function command_params(command, args)
  if args == nil or next(args) == nil then
    args = vim.empty_dict()
  end
  return { command = command, arguments = { args } }
end

---@alias ctask.Callback fun(err: lsp.ResponseError?, result: any)

--- What a failed command's message needs to be worded for Neovim (lua/ctask/messages.lua).
---@param command string
---@param args? table
---@return ctask.MessageContext
function M.message_context(command, args)
  local sub = command:match("^ctask%.(%a+)$")
  local names = { fileAt = "diffthis" }
  return {
    sub = names[sub] or sub,
    name = type(args) == "table" and type(args.name) == "string" and args.name or nil,
    own = require("ctask.state").server,
  }
end

--- Run a ctask command (`workspace/executeCommand`). A failure is shown as one
--- ERROR line unless `opts.silent`; `cb` gets `(err, result)` either way.
---@param command string e.g. `protocol.commands.new`
---@param args? table the command's one object argument
---@param cb? ctask.Callback
---@param opts? {silent?: boolean, host?: string, timeout_ms?: integer}
function M.execute(command, args, cb, opts)
  opts = opts or {}
  cb = cb or function() end
  -- `HOST:TASK` runs on HOST's server (lua/ctask/hosts.lua), as does a command given `opts.host`.
  local hosts = require("ctask.hosts")
  local host = opts.host
  if type(args) == "table" and type(args.name) == "string" then
    local h, bare, bad = hosts.split(args.name)
    if bad then
      if not opts.silent then
        M.error(bad)
      end
      return cb({ code = -32602, message = bad, data = { kind = "InvalidArgument" } }, nil)
    end
    if bare ~= args.name then
      local shown = args
      args = vim.tbl_extend("force", args, { name = bare })
      if h then
        return hosts.execute(h, command, args, shown, cb, opts)
      end
    end
  end
  if host ~= nil and host ~= hosts.LOCAL then
    return hosts.execute(host, command, args, args, cb, opts)
  end
  M.when_ready(function(client, why)
    if not client then
      if not opts.silent then
        M.error(why or "ctask-ls is not running")
      end
      return cb({ code = -32099, message = why or "ctask-ls is not running" }, nil)
    end
    client:request("workspace/executeCommand", command_params(command, args), function(err, result)
      if err then
        if not opts.silent then
          vim.notify(
            "ctask: " .. require("ctask.messages").explain(err, M.message_context(command, args)),
            vim.log.levels.ERROR
          )
        end
        return cb(err, nil)
      end
      if result == vim.NIL then
        result = nil
      end
      cb(nil, result)
    end)
  end)
end

--- Run a command synchronously on an initialized client (for completion).
--- Never starts the server, never shows errors.
---@param command string
---@param args? table
---@param timeout_ms? integer
---@return any? result
---@param host? string a configured host (its result with `HOST:TASK` names), nil: this machine
function M.execute_sync(command, args, timeout_ms, host)
  local hosts = require("ctask.hosts")
  local client
  if host ~= nil and host ~= hosts.LOCAL then
    client = hosts.client(host)
  else
    client = M.get()
  end
  if not client or not client.initialized then
    return nil
  end
  local resp = client:request_sync("workspace/executeCommand", command_params(command, args), timeout_ms or 1000)
  if not resp or resp.err or resp.result == vim.NIL then
    return nil
  end
  if host ~= nil and host ~= hosts.LOCAL then
    return hosts.qualify_result(host, resp.result)
  end
  return resp.result
end

--- Send changed settings to a running server (`workspace/didChangeConfiguration`).
---@param settings table
function M.push_settings(settings)
  local client = M.get()
  if not client then
    return
  end
  client.settings = { [protocol.settings_section] = settings }
  if client.initialized then
    client:notify("workspace/didChangeConfiguration", { settings = client.settings })
  end
  local hosts = require("ctask.hosts")
  for _, host in ipairs(hosts.names()) do
    local remote = hosts.client(host)
    if remote then
      remote.settings = { [protocol.settings_section] = settings }
      if remote.initialized then
        remote:notify("workspace/didChangeConfiguration", { settings = remote.settings })
      end
    end
  end
end

--- `on_exit` of the ctask config: keep the status for :checkhealth, drop the cache.
---@param code integer
---@param signal integer
---@param client_id integer
function M.on_exit(code, signal, client_id)
  local client = vim.lsp.get_client_by_id(client_id)
  local cmd = client and type(client.config.cmd) == "table" and table.concat(client.config.cmd --[[@as string[] ]], " ")
    or "ctask-ls"
  M.last_exit = { code = code, signal = signal, cmd = cmd }
  vim.schedule(function()
    local state = require("ctask.state")
    if state.client_id == nil or state.client_id == client_id then
      state.clear()
      pcall(vim.cmd.redrawstatus, { bang = true })
    end
  end)
end

return M
