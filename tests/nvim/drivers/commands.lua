-- :Ctask without setup(): the server started by the first command with no
-- file open, vim.lsp.enable("ctask") reusing that client, completion of subcommands and task names,
-- the current task by cwd and by buffer, and each subcommand against tasks the
-- test made with the CLI: alpha (one finished session), beta (running,
-- detached, so the server adopts it at start).
local H = dofile(vim.fs.joinpath(vim.fs.dirname(_G.arg[0]), "helper.lua"))
H.capture_notify()
local ctask = require("ctask")
local home = vim.env.CTASK_HOME

local function complete(line)
  return vim.fn.getcompletion(line, "cmdline")
end
local function info_matching(pattern)
  return H.note_matching(pattern, vim.log.levels.INFO)
end
local function buffer_lines(name)
  local buf = vim.fn.bufnr(name)
  return buf ~= -1 and vim.api.nvim_buf_get_lines(buf, 0, -1, false) or nil
end

H.observe("clients_before_any_command", #vim.lsp.get_clients({ name = "ctask", _uninitialized = true }))
H.observe("complete_subcommands", complete("Ctask "))
H.observe("complete_re", complete("Ctask re"))

-- No file open, no setup(): :Ctask list starts the server and lists the tasks.
vim.cmd("Ctask list")
H.wait(15000, function()
  local lines = buffer_lines("ctask://list")
  return lines ~= nil and #lines >= 3
end, "the ctask://list buffer")
H.observe("list_lines", buffer_lines("ctask://list"))
vim.cmd("close")

-- Names fit the subcommand: beta's session runs, alpha's does not.
H.observe("complete_names", {
  resume = complete("Ctask resume "),
  attach = complete("Ctask attach "),
  stop = complete("Ctask stop "),
  remove = complete("Ctask remove "),
  ["remove!"] = complete("Ctask remove! "),
  ["Ctask! remove"] = complete("Ctask! remove "),
  status = complete("Ctask status "),
  diff = complete("Ctask diff "),
})
H.observe("complete_names_a", complete("Ctask attach a"))
H.observe("complete_new", complete("Ctask new "))
H.observe("complete_after_name", complete("Ctask log alpha "))

-- vim.lsp.enable attaches file buffers to the same, single client.
local client = H.ready_client()
vim.lsp.enable("ctask")
vim.cmd.edit(vim.fs.joinpath(vim.env.HOME, "notes.lua"))
H.wait(5000, function()
  return #vim.lsp.get_clients({ bufnr = 0, name = "ctask" }) == 1
end, "vim.lsp.enable to attach a lua buffer")
H.observe("one_client", #vim.lsp.get_clients({ name = "ctask", _uninitialized = true }) == 1
  and vim.lsp.get_clients({ bufnr = 0, name = "ctask" })[1].id == client.id)

-- beta was orphaned (detached); the server adopted it at start.
H.wait(15000, function()
  local lease = ctask.lease("beta")
  return lease ~= nil and lease.owned_here
end, "the server to adopt beta at start")

-- The current task: by the window's cwd, then by the buffer's file.
vim.cmd("Ctask open alpha")
H.wait(10000, function()
  return vim.fn.getcwd() == vim.fs.joinpath(home, "tasks", "alpha", "work")
end, ":Ctask open to :tcd into alpha's workspace")
H.observe("open_tabs", #vim.api.nvim_list_tabpages())
H.observe("statusline_by_cwd", ctask.statusline())
vim.cmd.edit(vim.fs.joinpath(home, "tasks", "beta", "work", "notes.txt"))
H.observe("statusline_by_buffer", ctask.statusline())
H.observe("current_task", ctask.current_task())
vim.cmd("tabclose")

vim.cmd("Ctask status alpha")
H.wait(10000, function()
  return info_matching("^ctask: alpha: ") ~= nil
end, ":Ctask status alpha")
H.observe("status_alpha", info_matching("^ctask: alpha: "))

vim.cmd("Ctask log alpha")
H.wait(10000, function()
  return buffer_lines("ctask://log/alpha") ~= nil
end, "the ctask://log/alpha buffer")
H.observe("log_alpha", buffer_lines("ctask://log/alpha"))
vim.cmd("close")

-- attach opens a terminal on the adopted session; attaching again reuses it.
vim.cmd("Ctask attach beta")
H.wait(10000, function()
  return #H.terminals("beta") == 1
end, "a terminal for beta")
vim.cmd("Ctask attach beta")
local second_done = false
ctask.attach("beta", function()
  second_done = true
end)
H.wait(10000, function()
  return second_done
end, "the second attach")
H.observe("beta_terminals_after_two_attaches", #H.terminals("beta"))
H.observe("beta_terminal_name", vim.api.nvim_buf_get_name(H.terminals("beta")[1]))
H.observe("term_buffers", vim.tbl_filter(function(name)
  return vim.startswith(name, "term://")
end, vim.tbl_map(vim.api.nvim_buf_get_name, vim.api.nvim_list_bufs())))

-- remove checks before it asks: beta runs (its lease is this Neovim's server's), so no question.
local asked_busy
vim.ui.select = function(items, opts, on_choice)
  asked_busy = { items = items, prompt = opts.prompt }
  on_choice(nil)
end
local busy_err
local busy_done = false
vim.cmd("Ctask remove beta")
ctask.remove("beta", false, function(err)
  busy_err, busy_done = err, true
end)
H.wait(10000, function()
  return busy_done and #H.notes_at(vim.log.levels.ERROR) >= 2
end, ":Ctask remove beta to be refused")
H.observe("remove_busy", {
  asked = asked_busy or vim.NIL,
  lines = H.messages_at(vim.log.levels.ERROR),
  kind = busy_err and busy_err.data.kind,
  lease_pid = ctask.lease("beta").lease.pid,
  children = vim.tbl_map(function(pid)
    return pid
  end, vim.api.nvim_get_proc_children(vim.fn.getpid())),
})

vim.cmd("Ctask stop beta")
H.wait(15000, function()
  return info_matching("^ctask: task beta: session ended") ~= nil
end, ":Ctask stop beta")
H.observe("stop_beta", vim.tbl_map(function(n)
  return n.msg
end, H.notes_at(vim.log.levels.INFO)))
H.wait(10000, function()
  local lease = ctask.lease("beta")
  return lease ~= nil and lease.kind == "none"
end, "beta's lease to go")

-- last resumes the task updated most recently (beta): a new owned session.
vim.cmd("Ctask last")
H.wait(15000, function()
  local lease = ctask.lease("beta")
  return lease ~= nil and lease.owned_here and #H.terminals("beta") == 1
end, ":Ctask last to relaunch beta with a terminal")
H.observe("last_statusline", ctask.statusline())

-- remove asks first (vim.ui.select), then forgets the task.
local asked
vim.ui.select = function(items, opts, on_choice)
  asked = { items = items, prompt = opts.prompt }
  on_choice("Remove")
end
vim.cmd("Ctask remove alpha")
H.wait(10000, function()
  return info_matching("^ctask: removed task alpha") ~= nil
end, ":Ctask remove alpha")
H.observe("remove_asked", asked)
H.observe("complete_names_after_remove", complete("Ctask status "))
H.observe("alpha_dir_exists", vim.uv.fs_stat(vim.fs.joinpath(home, "tasks", "alpha")) ~= nil)
H.observe("errors", H.messages_at(vim.log.levels.ERROR))
H.finish()
