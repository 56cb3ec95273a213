---@brief `:Ctask {subcommand} [args]`: parsing and completion.

local M = {}

---@class ctask.Subcommand
---@field run fun(args: string[], bang: boolean)
---@field names? ctask.TaskFilter Complete the names of these tasks for the first argument.
---@field keys? string[] `key=` words completed after the first argument.
---@field desc string

local function actions()
  return require("ctask.actions")
end

--- `key=VALUE` words of `new` and `newrepo` (also `--key=VALUE`), and the option each sets.
local NEW_KEYS = { agent = "agent", repo = "repo", branch = "branch", base = "base" }

---@param args string[]
---@return ctask.NewOpts
local function parse_new(args)
  local out, words = {}, {}
  for i, a in ipairs(args) do
    if a == "--" then
      out.args = vim.list_slice(args, i + 1)
      break
    end
    local key, value = a:match("^%-?%-?(%a+)=(.+)$")
    if key and NEW_KEYS[key] then
      out[NEW_KEYS[key]] = value
    elseif out.name == nil then
      out.name = a
    else
      words[#words + 1] = a
    end
  end
  if #words > 0 then
    out.description = table.concat(words, " ")
  end
  return out
end

---@param args string[]
---@return string? name, string? agent
local function name_and_agent(args)
  local name, agent
  for _, a in ipairs(args) do
    local value = a:match("^agent=(.+)$") or a:match("^%-%-agent=(.+)$")
    if value then
      agent = value
    elseif name == nil then
      name = a
    end
  end
  return name, agent
end

---@type table<string, ctask.Subcommand>
M.subcommands = {
  new = {
    desc = "create a task and launch its agent: new [NAME] [agent=CMD] [repo=PATH [branch=B] [base=REF]] [DESCRIPTION...] [-- AGENT_ARGS...]",
    keys = { "agent=", "repo=", "branch=", "base=" },
    run = function(args)
      actions().new(parse_new(args))
    end,
  },
  newrepo = {
    desc = "New Task from This Repository (the current directory's), in a worktree on a new branch: newrepo [NAME] [branch=B] [base=REF] [agent=CMD] [DESCRIPTION...]",
    keys = { "agent=", "branch=", "base=" },
    run = function(args)
      actions().newrepo(parse_new(args))
    end,
  },
  resume = {
    desc = "attach, adopt or start a session: resume [NAME] [agent=CMD]",
    names = "stopped",
    run = function(args)
      local name, agent = name_and_agent(args)
      actions().resume(name, { agent = agent })
    end,
  },
  last = {
    desc = "resume the task updated most recently: last [agent=CMD]",
    run = function(args)
      local _, agent = name_and_agent(args)
      actions().last({ agent = agent })
    end,
  },
  open = {
    desc = "open a task's workspace: open [NAME]",
    names = "all",
    run = function(args)
      actions().open(args[1])
    end,
  },
  attach = {
    desc = "open a terminal on a running session: attach [NAME]",
    names = "running",
    run = function(args)
      actions().attach(args[1])
    end,
  },
  stop = {
    desc = "end a task's session: stop [NAME]",
    names = "running",
    run = function(args)
      actions().stop(args[1])
    end,
  },
  diff = {
    desc = "changed files in the quickfix list: diff [NAME]",
    names = "all",
    run = function(args)
      actions().diff(args[1])
    end,
  },
  diffthis = {
    desc = "the current file (or FILE) beside its content at the session's start (or CHECKPOINT): diffthis [FILE] [CHECKPOINT]",
    run = function(args)
      require("ctask.review").diffthis(args[1], args[2])
    end,
  },
  revert = {
    desc = "put the current file (or FILE) back as it was at the session's start (or to=CHECKPOINT); revert! the whole tree: revert[!] [FILE] [to=N]",
    run = function(args, bang)
      local file, to
      for _, a in ipairs(args) do
        local n = a:match("^to=(.+)$")
        if n then
          to = n
        else
          file = a
        end
      end
      if not bang and not file then
        file = vim.api.nvim_buf_get_name(0)
        if file == "" then
          return require("ctask.client").error("revert which file? open one of a task's tree, or :Ctask revert! for all")
        end
      end
      require("ctask.review").revert(bang and not file and nil or file, { to = to })
    end,
  },
  log = {
    desc = "session history: log [NAME] [LIMIT]",
    names = "all",
    run = function(args)
      local limit = args[2] and tonumber(args[2]) or nil
      if args[2] and not limit then
        return require("ctask.client").error("LIMIT must be a number, got '" .. args[2] .. "'")
      end
      actions().log(args[1], limit)
    end,
  },
  list = {
    desc = "every task with its lease and last session",
    run = function()
      actions().list()
    end,
  },
  status = {
    desc = "one line about a task: status [NAME]",
    names = "all",
    run = function(args)
      actions().status(args[1])
    end,
  },
  reconnect = {
    desc = "start a host's server again (every host's without HOST): reconnect [HOST]",
    run = function(args)
      require("ctask.hosts").reconnect(args[1])
    end,
  },
  remove = {
    desc = "remove a task and its workspace (remove! even while running): remove[!] NAME",
    names = "stopped",
    run = function(args, bang)
      actions().remove(args[1], bang)
    end,
  },
}

--- Subcommand names in a stable order.
---@return string[]
function M.names()
  local names = vim.tbl_keys(M.subcommands)
  if not require("ctask.hosts").enabled() then
    -- `reconnect` is for other hosts (|ctask-hosts|): offered only when some are configured.
    names = vim.tbl_filter(function(n)
      return n ~= "reconnect"
    end, names)
  end
  table.sort(names)
  return names
end

--- Entry point of `:Ctask`.
---@param opts vim.api.keyset.create_user_command.command_args
function M.run(opts)
  if vim.fn.has("nvim-0.11") ~= 1 then
    vim.notify("ctask: needs Neovim 0.11 or newer", vim.log.levels.ERROR)
    return
  end
  local args = vim.deepcopy(opts.fargs)
  local sub = table.remove(args, 1) or "list"
  local bang = opts.bang
  if sub:sub(-1) == "!" then -- `:Ctask remove! NAME` is `:Ctask! remove NAME`
    sub, bang = sub:sub(1, -2), true
  end
  local spec = M.subcommands[sub]
  if not spec then
    require("ctask.client").error(
      ("unknown subcommand '%s'; use one of: %s"):format(sub, table.concat(M.names(), ", "))
    )
    return
  end
  spec.run(args, bang)
end

---@param items string[]
---@param lead string
---@return string[]
local function matching(items, lead)
  return vim.tbl_filter(function(item)
    return vim.startswith(item, lead)
  end, items)
end

--- Completion of `:Ctask`: subcommands, then task names.
---@param arglead string
---@param cmdline string
---@param _cursor integer
---@return string[]
function M.complete(arglead, cmdline, _cursor)
  local words = vim.split(cmdline, "%s+", { trimempty = true })
  -- Drop the command itself (`Ctask`, `Ctask!`, with a range or modifiers before it).
  while #words > 0 and not words[1]:match("^Ctask!?$") do
    table.remove(words, 1)
  end
  local bang = (table.remove(words, 1) or ""):sub(-1) == "!"
  if arglead ~= "" then
    table.remove(words) -- the word being completed
  end
  if #words == 0 then
    return matching(M.names(), arglead)
  end
  local sub = words[1]:gsub("!$", "")
  bang = bang or sub ~= words[1]
  local spec = M.subcommands[sub]
  if sub == "reconnect" and #words == 1 then
    return matching(require("ctask.hosts").names(), arglead)
  end
  if (sub == "new" or sub == "newrepo") and #words == 1 and not arglead:find("=", 1, true) then
    -- The name: on another host as `HOST:NAME`.
    return matching(
      vim.tbl_map(function(h)
        return h .. ":"
      end, sub == "new" and require("ctask.hosts").names() or {}),
      arglead
    )
  end
  if spec and spec.names and #words == 1 then
    -- `remove!` removes a running task too.
    local filter = (bang and sub == "remove") and "all" or spec.names
    return matching(require("ctask.actions").task_names(filter), arglead)
  end
  if spec and spec.keys and not vim.tbl_contains(words, "--") then
    local key, value = arglead:match("^(%a+)=(.*)$")
    if key == "repo" and vim.tbl_contains(spec.keys, "repo=") then
      return vim.tbl_map(function(dir)
        return "repo=" .. dir
      end, vim.fn.getcompletion(value, "dir"))
    elseif key then
      return {}
    end
    -- After the name: the keys (a word typed first is the name).
    if #words >= 2 then
      return matching(spec.keys, arglead)
    end
  end
  return {}
end

return M
