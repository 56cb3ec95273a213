---@brief `:terminal` attached to a task's tmux session, from the server's terminal spec.

local M = {}

---@class ctask.TerminalSpec
---@field name string Title, e.g. "ctask: fix-login".
---@field command string Program to run (tmux).
---@field args string[] Its arguments (`-S SOCKET attach-session -t =ctask-NAME`).
---@field cwd? string Working directory (the workspace).
---@field env? table<string, string> Environment to add.

--- The terminal buffer of a task whose tmux client still runs, if any.
---@param task string
---@return integer?
function M.find(task)
  for _, buf in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_valid(buf) and vim.b[buf].ctask_task == task and vim.bo[buf].buftype == "terminal" then
      local chan = vim.b[buf].terminal_job_id
      if chan and vim.fn.jobwait({ chan }, 0)[1] == -1 then
        return buf
      end
    end
  end
end

---@param position string|fun(spec: ctask.TerminalSpec)
---@param spec ctask.TerminalSpec
local function make_window(position, spec)
  if type(position) == "function" then
    position(spec)
  elseif position == "tab" then
    vim.cmd("tabnew")
  elseif position == "split" then
    vim.cmd("botright new")
  elseif position == "vsplit" then
    vim.cmd("botright vnew")
  else
    vim.cmd("enew")
  end
end

--- An unnamed, unmodified, empty, normal buffer (what :enew makes).
---@param buf integer
---@return boolean
local function is_blank(buf)
  return vim.api.nvim_buf_get_name(buf) == ""
    and not vim.bo[buf].modified
    and vim.bo[buf].buftype == ""
    and vim.api.nvim_buf_line_count(buf) == 1
    and vim.api.nvim_buf_get_lines(buf, 0, 1, false)[1] == ""
end

--- The name of a task's terminal buffer: `ctask://NAME`.
---@param task string
---@return string
function M.buffer_name(task)
  return "ctask://" .. task
end

---@param name string
---@return integer?
local function buffer_named(name)
  for _, buf in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_get_name(buf) == name then
      return buf
    end
  end
end

--- Name the terminal buffer after its task (`ctask://NAME`; `ctask://NAME (2)` while an earlier
--- one of the same task is still open), and wipe the `term://...` buffer the rename leaves behind.
---@param buf integer
---@param task string
local function name_after(buf, task)
  local old = vim.api.nvim_buf_get_name(buf)
  local name, n = M.buffer_name(task), 1
  -- `ctask://list` is :Ctask list's window (a task may be called "list").
  while buffer_named(name) or name == "ctask://list" do
    n = n + 1
    name = ("%s (%d)"):format(M.buffer_name(task), n)
  end
  vim.api.nvim_buf_set_name(buf, name)
  local alt = buffer_named(old)
  if alt and alt ~= buf and not vim.api.nvim_buf_is_loaded(alt) then
    pcall(vim.api.nvim_buf_delete, alt, { force = true })
  end
end

--- Close a finished terminal: its windows (unless one is the last window) and its buffer.
---@param buf integer
function M.close(buf)
  if not vim.api.nvim_buf_is_valid(buf) then
    return
  end
  for _, win in ipairs(vim.fn.win_findbuf(buf)) do
    if #vim.api.nvim_list_wins() > 1 then
      pcall(vim.api.nvim_win_close, win, true)
    end
  end
  pcall(vim.api.nvim_buf_delete, buf, { force = true })
end

--- Show the task's terminal, opening it when needed.
---@param spec ctask.TerminalSpec
---@param task string
---@return integer? buf
function M.open(spec, task)
  local opts = require("ctask.config").options.terminal
  local existing = M.find(task)
  if existing then
    local win = vim.fn.bufwinid(existing)
    if win ~= -1 then
      vim.api.nvim_set_current_win(win)
    else
      make_window(opts.position, spec)
      vim.api.nvim_win_set_buf(0, existing)
    end
    return existing
  end
  if type(spec) ~= "table" or type(spec.command) ~= "string" then
    require("ctask.client").error("the server returned no terminal to open for task " .. task)
    return nil
  end
  make_window(opts.position, spec)
  if not is_blank(vim.api.nvim_get_current_buf()) then
    vim.cmd("enew") -- the terminal replaces the current buffer: never a file's
  end
  local buf = vim.api.nvim_get_current_buf()
  local argv = { spec.command }
  vim.list_extend(argv, type(spec.args) == "table" and spec.args or {})
  local env = type(spec.env) == "table" and next(spec.env) and spec.env or nil
  local ok, chan = pcall(vim.fn.jobstart, argv, {
    term = true,
    cwd = type(spec.cwd) == "string" and vim.fn.isdirectory(spec.cwd) == 1 and spec.cwd or nil,
    env = env,
    on_exit = function(_, code)
      if code == 0 and opts.close_on_exit then
        vim.schedule(function()
          M.close(buf)
        end)
      end
    end,
  })
  if not ok or chan <= 0 then
    local why = ok and (chan == -1 and "not executable" or "invalid arguments") or tostring(chan)
    require("ctask.client").error(("cannot run %s for task %s: %s"):format(spec.command, task, why))
    return nil
  end
  vim.b[buf].ctask_task = task
  vim.b[buf].ctask_terminal = spec
  name_after(buf, task)
  if opts.startinsert then
    vim.cmd("startinsert")
  end
  return buf
end

return M
