---@brief Other machines (SPEC 10): one ctask-ls per host, reached with `ssh DEST CMD --stdio`.
---
--- Each host of `setup{ hosts = ... }` gets its own |vim.lsp| client, named `ctask@HOST`, whose
--- command is the user's own ssh (`$CTASK_SSH`, split as a shell would, replaces `ssh` as for
--- the CLI) with `-T -o BatchMode=yes -o ServerAliveInterval=15 DEST CMD --stdio`. Its tasks are
--- called `HOST:TASK` everywhere in the plugin (the cache, commands, completion, terminals); this
--- machine's keep their bare names (`local:TASK` is accepted too). A host that does not answer is
--- reported in one line with what to do, and nothing about its tasks is kept or guessed.

local M = {}

--- What this machine is called in the HOST column (as `ctask list --all-hosts` calls it).
M.LOCAL = "local"

--- The environment variable that replaces `ssh` (a command line: `ssh -F ~/other_config`).
M.SSH_ENV = "CTASK_SSH"

--- How long `:Ctask list` waits for a host (to start its server, then to answer).
M.list_timeout_ms = 5000

--- How long a host's server may take to start before it is reported as not answering.
M.start_timeout_ms = 20000

--- How long the probe that explains a failure (`ssh DEST CMD --version`) may take.
M.probe_timeout_ms = 10000

---@class ctask.HostStatus
---@field state "starting"|"up"|"unreachable"
---@field error? string The one line that reported it unreachable.

--- The exit status of each host's last server process (ssh's: 255 when the connection failed).
---@type table<string, {code: integer, signal: integer}>
M.last_exit = {}

--- What is known of each host's connection.
---@type table<string, ctask.HostStatus>
M.status = {}

---@return ctask.HostConfig[]
function M.configured()
  return require("ctask.config").options.hosts or {}
end

--- Whether any host is configured.
---@return boolean
function M.enabled()
  return #M.configured() > 0
end

--- The configured host named `name`, or nil.
---@param name string
---@return ctask.HostConfig?
function M.get(name)
  for _, h in ipairs(M.configured()) do
    if h.name == name then
      return h
    end
  end
end

--- The names of the configured hosts, in their order.
---@return string[]
function M.names()
  return vim.tbl_map(function(h)
    return h.name
  end, M.configured())
end

--- The LSP client name of a host's server.
---@param host string
---@return string
function M.client_name(host)
  return "ctask@" .. host
end

--- The host of a client (nil: this machine's server).
---@param id? integer
---@return string?
function M.of_client(id)
  local client = id and vim.lsp.get_client_by_id(id)
  local name = client and client.name or nil
  return type(name) == "string" and name:match("^ctask@(.+)$") or nil
end

--- `HOST:TASK` of a host's task, `TASK` of this machine's.
---@param host? string
---@param name string
---@return string
function M.qualify(host, name)
  if host == nil or host == M.LOCAL then
    return name
  end
  return host .. ":" .. name
end

--- The host and bare name of `HOST:TASK` (host nil: this machine), or an error for an unknown host.
---@param qname string
---@return string? host, string name, string? err
function M.split(qname)
  local host, bare = qname:match("^([^:]*):(.*)$")
  if not host then
    return nil, qname, nil
  end
  if host == M.LOCAL then
    return nil, bare, nil
  end
  if M.get(host) then
    return host, bare, nil
  end
  local known = #M.names() > 0 and table.concat(M.names(), ", ") or "none (setup{ hosts = {...} } names them)"
  return nil, qname, ("unknown host '%s' in '%s'; the hosts are: %s"):format(host, qname, known)
end

--- The configured host of a `HOST:TASK` name, nil for this machine's tasks.
---@param qname? string
---@return string?
function M.host_of(qname)
  if type(qname) ~= "string" then
    return nil
  end
  local host, _, err = M.split(qname)
  return not err and host or nil
end

--- `local:TASK` is `TASK`.
---@param qname string
---@return string
function M.normalize(qname)
  if type(qname) == "string" and vim.startswith(qname, M.LOCAL .. ":") then
    return qname:sub(#M.LOCAL + 2)
  end
  return qname
end

--- Split a command line into words as a POSIX shell would (quotes and backslashes; no expansion).
---@param s string
---@return string[]? words nil when a quote is not closed
function M.shell_split(s)
  local words, cur, has = {}, {}, false
  local i, n = 1, #s
  while i <= n do
    local c = s:sub(i, i)
    if c == "'" then
      local j = s:find("'", i + 1, true)
      if not j then
        return nil
      end
      cur[#cur + 1], has, i = s:sub(i + 1, j - 1), true, j + 1
    elseif c == '"' then
      i, has = i + 1, true
      while true do
        if i > n then
          return nil
        end
        local d = s:sub(i, i)
        if d == '"' then
          i = i + 1
          break
        elseif d == "\\" and i < n and s:sub(i + 1, i + 1):find('[$`"\\\n]') then
          cur[#cur + 1], i = s:sub(i + 1, i + 1), i + 2
        else
          cur[#cur + 1], i = d, i + 1
        end
      end
    elseif c == "\\" then
      if i < n then
        cur[#cur + 1] = s:sub(i + 1, i + 1) ~= "\n" and s:sub(i + 1, i + 1) or nil
      end
      has, i = true, i + 2
    elseif c:find("%s") then
      if has then
        words[#words + 1] = table.concat(cur)
      end
      cur, has, i = {}, false, i + 1
    else
      cur[#cur + 1], has, i = c, true, i + 1
    end
  end
  if has then
    words[#words + 1] = table.concat(cur)
  end
  return words
end

--- The ssh command: `$CTASK_SSH` split as a shell would, else `{ "ssh" }`.
---@return string[]
function M.ssh_program()
  local env = vim.env[M.SSH_ENV]
  if type(env) == "string" and vim.trim(env) ~= "" then
    local words = M.shell_split(env)
    if words and #words > 0 then
      return words
    end
  end
  return { "ssh" }
end

--- The command of a host's server: `ssh -T -o BatchMode=yes -o ServerAliveInterval=15 DEST CMD --stdio`.
---@param h ctask.HostConfig
---@return string[]
function M.server_cmd(h)
  local argv = M.ssh_program()
  vim.list_extend(argv, { "-T", "-o", "BatchMode=yes", "-o", "ServerAliveInterval=15", h.ssh, h.cmd, "--stdio" })
  return argv
end

--- A word for the remote shell: as it is when it is safe, else in single quotes.
---@param word string
---@return string
function M.shell_quote(word)
  if word ~= "" and not word:find("[^%w@%%+=:,./_-]") then
    return word
  end
  return "'" .. word:gsub("'", "'\\''") .. "'"
end

--- The terminal of a host's task: `ssh -t DEST 'cd CWD; exec env K=V tmux ... attach-session ...'`
--- from the terminal spec that host's server returned.
---@param host string
---@param spec ctask.TerminalSpec
---@return ctask.TerminalSpec
function M.terminal(host, spec)
  local h = M.get(host)
  if type(spec) ~= "table" or type(spec.command) ~= "string" or not h then
    return spec
  end
  local words = {}
  if type(spec.cwd) == "string" and spec.cwd ~= "" then
    words[#words + 1] = ("cd %s 2>/dev/null;"):format(M.shell_quote(spec.cwd))
  end
  words[#words + 1] = "exec"
  local env = type(spec.env) == "table" and spec.env or {}
  local keys = vim.tbl_keys(env)
  table.sort(keys)
  if #keys > 0 then
    words[#words + 1] = "env"
    for _, k in ipairs(keys) do
      words[#words + 1] = M.shell_quote(("%s=%s"):format(k, tostring(env[k])))
    end
  end
  words[#words + 1] = M.shell_quote(spec.command)
  for _, a in ipairs(type(spec.args) == "table" and spec.args or {}) do
    words[#words + 1] = M.shell_quote(tostring(a))
  end
  local argv = M.ssh_program()
  vim.list_extend(argv, { "-t", h.ssh, table.concat(words, " ") })
  local name = type(spec.name) == "string" and spec.name:gsub("^ctask: ", "ctask: " .. host .. ":") or ("ctask: " .. host)
  return {
    name = name,
    command = table.remove(argv, 1),
    args = argv,
    host = host,
    remote = vim.deepcopy(spec),
  }
end

--- A host's result with its tasks named `HOST:TASK` and its terminal run through `ssh -t`.
---@param host string
---@param result any
---@return any
function M.qualify_result(host, result)
  if type(result) ~= "table" then
    return result
  end
  result = vim.deepcopy(result)
  local function task(t)
    if type(t) == "table" and type(t.name) == "string" then
      t.name = M.qualify(host, t.name)
      t.host = host
    end
  end
  if vim.islist(result) then
    for _, t in ipairs(result) do
      task(t)
    end
    return result
  end
  if type(result.tasks) == "table" then
    for _, t in ipairs(result.tasks) do
      task(t)
    end
  end
  if type(result.task) == "string" then
    result.task = M.qualify(host, result.task)
  elseif type(result.task) == "table" then
    task(result.task)
  end
  if type(result.name) == "string" then
    result.name = M.qualify(host, result.name)
  end
  if type(result.terminal) == "table" then
    result.terminal = M.terminal(host, result.terminal)
  end
  return result
end

--- A host's notification or question, in the plugin's terms: its task named `HOST:TASK`, its
--- messages prefixed with the host.
---@param host string
---@param method string
---@param params any
---@return any
function M.qualify_params(host, method, params)
  if type(params) ~= "table" then
    return params
  end
  params = vim.deepcopy(params)
  if type(params.name) == "string" then
    params.name = M.qualify(host, params.name)
  end
  if (method == "window/showMessage" or method == "window/showMessageRequest") and type(params.message) == "string" then
    params.message = ("host %s: %s"):format(host, params.message)
  end
  return params
end

--- The running client of a host's server (initialized or not), or nil.
---@param host string
---@return vim.lsp.Client?
function M.client(host)
  for _, c in ipairs(vim.lsp.get_clients({ name = M.client_name(host), _uninitialized = true })) do
    if not c:is_stopped() then
      return c
    end
  end
end

--- Forget what the cache holds of a host's tasks (nothing about them is guessed).
---@param host string
local function forget_tasks(host)
  local state = require("ctask.state")
  local prefix = host .. ":"
  for _, tbl in ipairs({ state.tasks, state.activities, state.repos }) do
    for name in pairs(tbl) do
      if vim.startswith(name, prefix) then
        tbl[name] = nil
      end
    end
  end
end
M.forget_tasks = forget_tasks

--- The last line of a text that says something (ssh's stderr).
---@param text? string
---@return string?
local function last_line(text)
  local out
  for line in (text or ""):gmatch("[^\r\n]+") do
    if vim.trim(line) ~= "" then
      out = vim.trim(line)
    end
  end
  return out
end

---@type table<string, fun(line: string, ok: boolean)[]>
local probing = {}

--- Why a host's server cannot be reached, in one line with what to do: runs
--- `ssh -T -o BatchMode=yes -o ConnectTimeout=5 DEST CMD --version` and reads its status and stderr.
--- `cb(line, ok)`: ok when that answers now (the host is back).
---@param host string
---@param cb fun(line: string, ok: boolean)
function M.diagnose(host, cb)
  local h = M.get(host)
  if not h then
    return cb(("host %s is not configured"):format(host), false)
  end
  if probing[host] then
    table.insert(probing[host], cb)
    return
  end
  probing[host] = { cb }
  local argv = M.ssh_program()
  vim.list_extend(argv, { "-T", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", h.ssh, h.cmd, "--version" })
  local check = ("check that `ssh %s true` works without a prompt, then :Ctask reconnect %s"):format(h.ssh, host)
  local function done(line, ok)
    local cbs = probing[host] or {}
    probing[host] = nil
    for _, f in ipairs(cbs) do
      f(line, ok)
    end
  end
  local ok, err = pcall(vim.system, argv, { text = true, timeout = M.probe_timeout_ms }, function(res)
    vim.schedule(function()
      local why = last_line(res.stderr)
      if res.code == 0 then
        return done(("host %s answers (%s)"):format(host, last_line(res.stdout) or "ctask-ls"), true)
      elseif res.signal ~= 0 and res.code ~= 255 then
        return done(("host %s did not answer within %d s; %s"):format(host, M.probe_timeout_ms / 1000, check), false)
      elseif res.code == 255 then
        why = why or "no reason given"
        if not why:find("^ssh:") then
          why = "ssh: " .. why
        end
        return done(("host %s did not answer (%s); %s"):format(host, why, check), false)
      elseif res.code == 127 or res.code == 126 then
        return done(
          ("host %s has no ctask-ls (`%s` %s there); install ctask on %s or set its cmd in setup{ hosts = ... }, then :Ctask reconnect %s"):format(
            host,
            h.cmd,
            res.code == 127 and "is not found" or "cannot run",
            host,
            host
          ),
          false
        )
      end
      return done(
        ("host %s: `%s --version` failed there (exit %d%s); is ctask installed and recent on %s? then :Ctask reconnect %s"):format(
          host,
          h.cmd,
          res.code,
          why and (": " .. why) or "",
          host,
          host
        ),
        false
      )
    end)
  end)
  if not ok then
    done(("host %s: cannot run %s (%s)"):format(host, argv[1], require("ctask.client").one_line(err)), false)
  end
end

---@type table<string, {line: string, at: integer}>
local told = {}

--- Show a host's trouble as one line, once: the same line again within 10 s is not repeated.
---@param line string
---@param level? integer
function M.report(line, level)
  local key = line
  local now = vim.uv.now()
  if told[key] and now - told[key].at < 10000 then
    return
  end
  told[key] = { line = line, at = now }
  vim.notify("ctask: " .. line, level or vim.log.levels.WARN)
end

--- Mark a host unreachable with the line that says why; forget its tasks.
---@param host string
---@param line string
function M.mark_unreachable(host, line)
  M.status[host] = { state = "unreachable", error = line }
  forget_tasks(host)
  pcall(vim.cmd.redrawstatus, { bang = true })
end

--- `on_exit` of a host's client: its tasks are no longer known; a connection that was up and
--- dropped is reported in one line.
---@param host string
---@param client_id integer
function M.on_exit(host, _code, _signal, client_id)
  vim.schedule(function()
    local live = M.client(host)
    if live and live.id ~= client_id then
      return -- a newer connection (reconnect) took over
    end
    local st = M.status[host]
    forget_tasks(host)
    pcall(vim.cmd.redrawstatus, { bang = true })
    if not st or st.state ~= "up" or vim.v.exiting ~= vim.NIL then
      return -- stopped on purpose, or never up (the command that started it reports that)
    end
    M.status[host] = { state = "unreachable", error = ("host %s: the connection dropped"):format(host) }
    M.diagnose(host, function(line, ok)
      if ok then
        line = ("host %s: the connection dropped; :Ctask reconnect %s (or the next command on it) reconnects"):format(
          host,
          host
        )
      end
      if M.status[host] and M.status[host].state == "unreachable" then
        M.status[host].error = line
      end
      M.report(line, vim.log.levels.WARN)
      pcall(vim.cmd.redrawstatus, { bang = true })
    end)
  end)
end

--- The `vim.lsp.Config` of a host's server: the handlers of lsp/ctask.lua seeing `HOST:TASK`.
---@param h ctask.HostConfig
---@return vim.lsp.Config?, string?
local function config_for(h)
  local base, why = require("ctask.client").config()
  if not base then
    return nil, why
  end
  local handlers = {}
  for method, fn in pairs(base.handlers or {}) do
    handlers[method] = function(err, params, ctx)
      return fn(err, M.qualify_params(h.name, method, params), ctx)
    end
  end
  local argv = M.server_cmd(h)
  return {
    name = M.client_name(h.name),
    -- `argv` as is; only its exit status is kept from Neovim's generic "Client quit with exit
    -- code N" warning: a host that drops is reported in one line of ours (M.on_exit).
    cmd = function(dispatchers)
      local wrapped = vim.tbl_extend("force", dispatchers, {
        on_exit = function(code, signal)
          M.last_exit[h.name] = { code = code, signal = signal }
          return dispatchers.on_exit(0, 0)
        end,
      })
      return vim.lsp.rpc.start(argv, wrapped)
    end,
    ctask_cmd = argv,
    handlers = handlers,
    init_options = vim.deepcopy(base.init_options),
    settings = vim.deepcopy(base.settings),
    on_init = function(client)
      if M.client(h.name) == nil or M.client(h.name).id == client.id then
        M.status[h.name] = { state = "up" }
      end
    end,
    on_exit = function(code, signal, client_id)
      M.on_exit(h.name, code, signal, client_id)
    end,
  }
end

--- A host's running client, else a new one started (no buffer attached); nil and why when it
--- cannot start at all.
---@param host string
---@return vim.lsp.Client?, string?
function M.start(host)
  local running = M.client(host)
  if running then
    return running
  end
  local h = M.get(host)
  if not h then
    return nil, ("unknown host '%s'"):format(host)
  end
  local ssh = M.ssh_program()[1]
  if vim.fn.executable(ssh) ~= 1 then
    return nil, ("%s not found on PATH: install OpenSSH's client to reach host %s"):format(ssh, host)
  end
  local cfg, why = config_for(h)
  if not cfg then
    return nil, why
  end
  M.status[host] = { state = "starting", error = M.status[host] and M.status[host].error or nil }
  local id = vim.lsp.start(cfg, { attach = false, silent = true })
  local client = id and vim.lsp.get_client_by_id(id)
  if not client then
    return nil, ("host %s: ssh did not start; see :LspLog"):format(host)
  end
  return client
end

--- The line for a host that did not answer within `ms`.
---@param host string
---@param ms integer
---@return string
local function no_answer(host, ms)
  return ("host %s did not answer within %d s; check that `ssh %s true` works without a prompt, then :Ctask reconnect %s"):format(
    host,
    math.floor(ms / 1000),
    M.get(host).ssh,
    host
  )
end

--- Call `cb(client)` once a host's server is initialized, or `cb(nil, line)` with the one line
--- that says why not (the host is then marked unreachable).
---@param host string
---@param cb fun(client: vim.lsp.Client?, why: string?)
---@param timeout_ms? integer
function M.when_ready(host, cb, timeout_ms)
  local client, why = M.start(host)
  if not client then
    M.mark_unreachable(host, why --[[@as string]])
    return cb(nil, why)
  end
  local function ready()
    local mismatch = require("ctask.client").protocol_mismatch(client, host)
    if mismatch then
      M.mark_unreachable(host, mismatch)
      return cb(nil, mismatch)
    end
    M.status[host] = { state = "up" }
    return cb(client)
  end
  if client.initialized then
    return ready()
  end
  local function fail(line)
    M.mark_unreachable(host, line)
    cb(nil, line)
  end
  require("ctask.client").await_init(client, timeout_ms or M.start_timeout_ms, function(outcome)
    if outcome == "initialized" then
      return ready()
    elseif outcome == "stopped" then
      return M.diagnose(host, function(line, ok)
        if ok then
          line = ("host %s: ctask-ls stopped during start although `ssh %s` works; see :LspLog"):format(
            host,
            M.get(host).ssh
          )
        end
        fail(line)
      end)
    end
    M.status[host] = { state = "unreachable" }
    client:stop(true)
    fail(no_answer(host, timeout_ms or M.start_timeout_ms))
  end)
end

--- Send `workspace/executeCommand` to a host's client; `cb(err, result)` once, also when the
--- connection drops meanwhile or (with `timeout_ms`) the host does not answer in time: then `err`
--- is `{kind = "HostUnreachable"}` with the one line that says why.
---@param host string
---@param client vim.lsp.Client
---@param command string
---@param args? table
---@param timeout_ms? integer
---@param cb fun(err: lsp.ResponseError?, result: any)
function M.request(host, client, command, args, timeout_ms, cb)
  local finished = false
  local timer = assert(vim.uv.new_timer())
  local function finish(err, result)
    if finished then
      return
    end
    finished = true
    if not timer:is_closing() then
      timer:stop()
      timer:close()
    end
    cb(err, result)
  end
  local function lost(line)
    M.mark_unreachable(host, line)
    finish({ code = -32099, message = line, data = { kind = "HostUnreachable", host = host } }, nil)
  end
  if args == nil or next(args) == nil then
    args = vim.empty_dict()
  end
  local ok = client:request("workspace/executeCommand", { command = command, arguments = { args } }, finish)
  if not ok then
    return M.diagnose(host, function(line)
      lost(line)
    end)
  end
  local deadline = timeout_ms and (vim.uv.now() + timeout_ms) or nil
  timer:start(
    100,
    100,
    vim.schedule_wrap(function()
      if finished or timer:is_closing() then
        return
      end
      if client:is_stopped() then
        timer:stop()
        M.diagnose(host, function(line, up)
          lost(up and ("host %s: the connection dropped; :Ctask reconnect %s"):format(host, host) or line)
        end)
      elseif deadline and vim.uv.now() > deadline then
        lost(no_answer(host, timeout_ms))
      end
    end)
  )
end

--- Run a command on a host's server (see |ctask-hosts|): `args.name` is the bare task name there;
--- the result comes back with `HOST:TASK` names and an `ssh -t` terminal.
---@param host string
---@param command string
---@param args? table as the host's server gets it
---@param shown? table as the user gave it (`HOST:TASK`), for messages
---@param cb fun(err: lsp.ResponseError?, result: any)
---@param opts {silent?: boolean, timeout_ms?: integer}
function M.execute(host, command, args, shown, cb, opts)
  local function failed(err)
    if not opts.silent then
      local kind = type(err.data) == "table" and err.data.kind or nil
      if kind == "HostUnreachable" then
        M.report(err.message, vim.log.levels.ERROR)
      else
        local client = require("ctask.client")
        local text = require("ctask.messages").explain(err, client.message_context(command, shown))
        vim.notify(("ctask: host %s: %s"):format(host, text), vim.log.levels.ERROR)
      end
    end
    cb(err, nil)
  end
  M.when_ready(host, function(client, why)
    if not client then
      return failed({ code = -32099, message = why or ("host %s did not answer"):format(host), data = { kind = "HostUnreachable", host = host } })
    end
    M.request(host, client, command, args, opts.timeout_ms, function(err, result)
      if err then
        return failed(err)
      end
      if result == vim.NIL then
        result = nil
      end
      cb(nil, M.qualify_result(host, result))
    end)
  end, opts.timeout_ms)
end

--- Stop a host's client and start it again; `cb(ok)`. Without `host`: every configured host.
---@param host? string
---@param cb? fun(ok: boolean)
function M.reconnect(host, cb)
  cb = cb or function() end
  if host == nil or host == "" then
    local names = M.names()
    if #names == 0 then
      vim.notify("ctask: no hosts configured (setup{ hosts = {...} }); nothing to reconnect", vim.log.levels.WARN)
      return cb(false)
    end
    local left, all = #names, true
    for _, h in ipairs(names) do
      M.reconnect(h, function(ok)
        all = all and ok
        left = left - 1
        if left == 0 then
          cb(all)
        end
      end)
    end
    return
  end
  if not M.get(host) then
    local _, _, err = M.split(host .. ":x")
    vim.notify("ctask: " .. (err or ("unknown host '%s'"):format(host)):gsub(" in '[^']*'", ""), vim.log.levels.ERROR)
    return cb(false)
  end
  local old = M.client(host)
  if old then
    M.status[host] = nil -- stopped on purpose: its exit is not news
    old:stop(true)
  end
  vim.defer_fn(function()
    M.when_ready(host, function(client, why)
      if not client then
        M.report(why or ("host %s did not answer"):format(host), vim.log.levels.ERROR)
        return cb(false)
      end
      vim.notify(("ctask: host %s: connected"):format(host), vim.log.levels.INFO)
      cb(true)
    end)
  end, old and 50 or 0)
end

--- Stop the servers of hosts no longer configured (setup() called again with other `hosts`), and forget
--- their tasks and state: nothing of a host that is gone is shown. Returns the hosts let go.
---@return string[]
function M.prune()
  local gone = {}
  for _, c in ipairs(vim.lsp.get_clients({ _uninitialized = true })) do
    local host = c.name:match("^ctask@(.+)$")
    if host and not M.get(host) then
      if not vim.tbl_contains(gone, host) then
        gone[#gone + 1] = host
      end
      c:stop(true)
    end
  end
  for host in pairs(M.status) do
    if not M.get(host) and not vim.tbl_contains(gone, host) then
      gone[#gone + 1] = host
    end
  end
  for _, host in ipairs(gone) do
    M.status[host] = nil
    forget_tasks(host)
  end
  if #gone > 0 then
    pcall(vim.cmd.redrawstatus, { bang = true })
  end
  return gone
end

--- Start every host's server (setup() with `autostart`); a host that does not answer is reported
--- in one WARN line.
function M.autostart()
  for _, h in ipairs(M.names()) do
    M.when_ready(h, function(client, why)
      if not client and why then
        M.report(why, vim.log.levels.WARN)
      end
    end)
  end
end

return M
