---@brief Options of `require("ctask").setup()`: defaults, merge and validation.

local M = {}

---@class (exact) ctask.TerminalConfig
---@field position "tab"|"split"|"vsplit"|"current"|fun(spec: ctask.TerminalSpec) Where `:terminal` opens.
---@field startinsert boolean Enter terminal mode once it is open.
---@field close_on_exit boolean Close the terminal when tmux exits with status 0 (detach or session end).

---@class (exact) ctask.QuickfixConfig
---@field open boolean Open the quickfix window when a `ctask/diff` notification fills it.
---@field diff boolean `<CR>` on an entry of a task's list opens the file in a diff split against its checkpoint.

---@class (exact) ctask.StatuslineSymbols
---@field owned string This Neovim's server owns the session.
---@field busy string Another process on this host holds the lease.
---@field remote string Another host holds the lease.
---@field stale string The lease is stale.
---@field none string No lease.
---@field unreachable string The task's host does not answer (|ctask-hosts|).

---@class (exact) ctask.ActivitySymbols
---@field working string The agent is busy.
---@field needs_input string The agent waits for you (a permission prompt, a question).
---@field idle string The agent's turn is over, or its pane has been quiet for `idleAfter` seconds.
---@field exited string The agent ended; its session is being recorded.

---@class (exact) ctask.StatuslineConfig
---@field symbols ctask.StatuslineSymbols
---@field activity ctask.ActivitySymbols Shown after the lease, with the activity's name.
---@field format? fun(info: ctask.LeaseInfo): string Replaces the default rendering.

---@class (exact) ctask.HostConfig
---@field name string What the plugin calls the host: `HOST:TASK`, the HOST column of `:Ctask list`.
---@field ssh string The ssh destination (`me@buildbox`, or a `Host` of ~/.ssh/config); default: the name.
---@field cmd string The server command there, as its shell reads it; default `ctask-ls`.

---@class (exact) ctask.Config
---@field cmd string[]|fun(dispatchers: vim.lsp.rpc.Dispatchers): vim.lsp.rpc.PublicClient Command that starts ctask-ls (stdio), or a connection to a running one (`vim.lsp.rpc.connect("127.0.0.1", 2087)`, `vim.lsp.rpc.connect("/path/ctask-ls.sock")`).
---@field token_file? string File holding the token of a `ctask-ls --tcp` server: read at each connection and sent as `initializationOptions.token`, never stored in settings.
---@field autostart boolean Start ctask-ls from `setup()` rather than on first use.
---@field settings ctask.ServerSettings
---@field terminal ctask.TerminalConfig
---@field quickfix ctask.QuickfixConfig
---@field statusline ctask.StatuslineConfig
---@field notify boolean Announce with |vim.notify()| when a task starts waiting for you (`needs_input`, WARN) or its session ends.
---@field notify_session_end boolean Show one line when a session ends (only with `notify`).
---@field hosts ctask.HostConfig[] Other machines, each with its own ctask-ls reached over ssh (|ctask-hosts|).

---@type ctask.Config
M.defaults = {
  cmd = { "ctask-ls" },
  autostart = true,
  settings = {},
  terminal = {
    position = "tab",
    startinsert = true,
    close_on_exit = true,
  },
  quickfix = {
    open = false,
    diff = true,
  },
  statusline = {
    symbols = {
      owned = "●",
      busy = "◐",
      remote = "◆",
      stale = "!",
      none = "○",
      unreachable = "⊘",
    },
    activity = {
      working = "⚙",
      needs_input = "⚠",
      idle = "◌",
      exited = "✕",
    },
    format = nil,
  },
  notify = true,
  notify_session_end = true,
  hosts = {},
}

--- Server settings and the Lua types each accepts (generated from the server's settings model).
local SETTING_TYPES = {}
for name, setting in pairs(require("ctask.protocol").settings) do
  SETTING_TYPES[name] = setting.types
end

M.setting_types = SETTING_TYPES

local POSITIONS = { tab = true, split = true, vsplit = true, current = true }

---@type ctask.Config
M.options = vim.deepcopy(M.defaults)

---@param msg string
local function warn(msg)
  vim.notify("ctask: " .. msg, vim.log.levels.WARN)
end

---@param value any
---@param types string[]
local function has_type(value, types)
  return vim.tbl_contains(types, type(value))
end

local HOST_KEYS = { name = true, ssh = true, cmd = true }

--- `hosts`: a list of `{name, ssh, cmd}` (or host names); a bad entry is reported and left out.
---@param value any
---@return ctask.HostConfig[]
local function validate_hosts(value)
  if value == nil then
    return {}
  end
  if type(value) ~= "table" or (next(value) ~= nil and not vim.islist(value)) then
    warn(("option hosts must be a list of { name = ..., ssh = ..., cmd = ... }, got %s; no hosts used"):format(vim.inspect(value)))
    return {}
  end
  local out, seen = {}, {}
  for i, entry in ipairs(value) do
    local item = type(entry) == "string" and { name = entry } or entry
    local where = ("hosts[%d]"):format(i)
    local why
    if type(item) ~= "table" then
      why = ("%s must be a table { name = ..., ssh = ..., cmd = ... } or a host name"):format(where)
    else
      for key in pairs(item) do
        if not why and not HOST_KEYS[key] then
          why = ("%s: unknown key '%s' (known: name, ssh, cmd)"):format(where, tostring(key))
        end
      end
      local name = item.name
      if why then
      elseif type(name) ~= "string" or #name > 64 or not name:find("^[%w][%w._-]*$") then
        why = ("%s.name must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"):format(where)
      elseif name == "local" then
        why = ("%s: 'local' is this machine; name the host otherwise"):format(where)
      elseif seen[name] then
        why = ("%s: a second host named '%s'; host names must differ"):format(where, name)
      else
        where = ("%s (%s)"):format(where, name)
        local ssh = item.ssh == nil and name or item.ssh
        local cmd = item.cmd == nil and "ctask-ls" or item.cmd
        if type(ssh) ~= "string" or ssh == "" or ssh:find("%s") or ssh:sub(1, 1) == "-" or ssh:find("%c") then
          why = ("%s.ssh must be an ssh destination (user@machine or a Host of ~/.ssh/config), without blanks and not starting with '-'"):format(
            where
          )
        elseif type(cmd) ~= "string" or vim.trim(cmd) == "" or cmd:find("%c") then
          why = ("%s.cmd must be a non-empty command on one line (the ctask-ls there)"):format(where)
        else
          seen[name] = true
          out[#out + 1] = { name = name, ssh = ssh, cmd = cmd }
        end
      end
    end
    if why then
      warn(why .. "; host left out")
    end
  end
  return out
end

--- Check a merged configuration; report each bad option and use its default.
---@param opts table
---@return ctask.Config
local function validate(opts)
  local d = M.defaults
  local function check(path, value, ok, default, expected)
    if ok then
      return value
    end
    warn(("option %s must be %s, got %s; using the default"):format(path, expected, vim.inspect(value)))
    return vim.deepcopy(default)
  end

  local cmd_ok = type(opts.cmd) == "function"
    or type(opts.cmd) == "table" and #opts.cmd > 0 and vim.iter(opts.cmd):all(function(v)
      return type(v) == "string"
    end)
  opts.cmd = check("cmd", opts.cmd, cmd_ok, d.cmd, "a non-empty list of strings or a vim.lsp.rpc.connect() function")
  local tf = opts.token_file
  opts.token_file = check("token_file", tf, tf == nil or type(tf) == "string" and tf ~= "", nil, "a file name")
  for _, key in ipairs({ "autostart", "notify", "notify_session_end" }) do
    opts[key] = check(key, opts[key], type(opts[key]) == "boolean", d[key], "a boolean")
  end

  if type(opts.settings) ~= "table" then
    opts.settings = check("settings", opts.settings, false, d.settings, "a table")
  end
  for key, value in pairs(opts.settings) do
    local types = SETTING_TYPES[key]
    if not types then
      warn(("unknown option settings.%s ignored"):format(key))
      opts.settings[key] = nil
    elseif not has_type(value, types) then
      warn(("option settings.%s must be a %s; not sent"):format(key, table.concat(types, " or ")))
      opts.settings[key] = nil
    end
  end

  local term = opts.terminal
  term.position = check(
    "terminal.position",
    term.position,
    type(term.position) == "function" or POSITIONS[term.position] ~= nil,
    d.terminal.position,
    '"tab", "split", "vsplit", "current" or a function'
  )
  for _, key in ipairs({ "startinsert", "close_on_exit" }) do
    term[key] = check("terminal." .. key, term[key], type(term[key]) == "boolean", d.terminal[key], "a boolean")
  end
  opts.quickfix.open =
    check("quickfix.open", opts.quickfix.open, type(opts.quickfix.open) == "boolean", d.quickfix.open, "a boolean")
  opts.quickfix.diff =
    check("quickfix.diff", opts.quickfix.diff, type(opts.quickfix.diff) == "boolean", d.quickfix.diff, "a boolean")
  for key, default in pairs(d.statusline.symbols) do
    local v = opts.statusline.symbols[key]
    opts.statusline.symbols[key] = check("statusline.symbols." .. key, v, type(v) == "string", default, "a string")
  end
  for key, default in pairs(d.statusline.activity) do
    local v = opts.statusline.activity[key]
    opts.statusline.activity[key] = check("statusline.activity." .. key, v, type(v) == "string", default, "a string")
  end
  local fmt = opts.statusline.format
  opts.statusline.format = check("statusline.format", fmt, fmt == nil or type(fmt) == "function", nil, "a function")
  opts.hosts = validate_hosts(opts.hosts)
  return opts
end

--- Merge user options over the defaults and keep the result in `M.options`.
---@param user? table
---@return ctask.Config
function M.set(user)
  if user ~= nil and type(user) ~= "table" then
    warn("setup() takes a table of options; using the defaults")
    user = nil
  end
  local merged = vim.tbl_deep_extend("force", vim.deepcopy(M.defaults), user or {})
  if type(user) == "table" and user.hosts ~= nil then
    merged.hosts = type(user.hosts) == "table" and vim.deepcopy(user.hosts) or user.hosts -- a list: replaced, not merged
  end
  for _, key in ipairs({ "terminal", "quickfix", "statusline" }) do
    if type(merged[key]) ~= "table" then
      warn(("option %s must be a table; using the default"):format(key))
      merged[key] = vim.deepcopy(M.defaults[key])
    end
  end
  for _, key in ipairs({ "symbols", "activity" }) do
    if type(merged.statusline[key]) ~= "table" then
      warn(("option statusline.%s must be a table; using the default"):format(key))
      merged.statusline[key] = vim.deepcopy(M.defaults.statusline[key])
    end
  end
  M.options = validate(merged)
  return M.options
end

--- The token in `M.options.token_file` (trimmed), or nil and why.
---@return string?, string?
function M.token()
  local file = M.options.token_file
  if file == nil then
    return nil, nil
  end
  local path = vim.fs.normalize(file)
  local f, err = io.open(path, "r")
  if not f then
    return nil, ("cannot read token_file %s (%s); is `ctask-ls --tcp` running?"):format(path, err)
  end
  local token = vim.trim(f:read("*a") or "")
  f:close()
  if token == "" or token:find("%s") then
    return nil, ("token_file %s does not hold a token"):format(path)
  end
  return token, nil
end

--- `before_init` of the ctask LSP config: over TCP the server needs its token
--- in the first message, `initialize` (`initializationOptions.token`).
---@param params lsp.InitializeParams
function M.add_token(params)
  local token, why = M.token()
  if why then
    warn(why .. "; the server will refuse the connection")
  end
  if token then
    local init = params.initializationOptions
    if type(init) ~= "table" then
      init = {}
    end
    init.token = token
    params.initializationOptions = init
  end
end

--- The `vim.lsp.Config` fields that setup() contributes: `cmd` when the user
--- set it, `init_options` and `settings` when the user gave `settings`, so
--- that values set with `vim.lsp.config("ctask", ...)` are kept otherwise.
---@param opts ctask.Config merged options
---@param user? table what the user passed to setup()
---@return vim.lsp.Config
function M.lsp_overrides(opts, user)
  user = type(user) == "table" and user or {}
  local out = {}
  if user.cmd ~= nil then
    out.cmd = opts.cmd
  end
  if user.settings ~= nil then
    local settings = vim.deepcopy(opts.settings)
    local section = require("ctask.protocol").settings_section
    out.init_options = next(settings) and settings or vim.empty_dict()
    out.settings = { [section] = next(settings) and vim.deepcopy(settings) or vim.empty_dict() }
  end
  return out
end

return M
