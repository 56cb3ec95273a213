-- new -> statusline owned -> agent writes files -> quickfix lists them ->
-- session ends -> statusline none; then :Ctask diff on demand.
-- The task's agent (from the test's config) waits for "go", writes a.txt and
-- b.txt, waits for "done", exits 0.
local H = dofile(vim.fs.joinpath(vim.fs.dirname(_G.arg[0]), "helper.lua"))
H.capture_notify()

H.check(vim.fn.exists(":Ctask") == 2, ":Ctask is not defined: plugin/ctask.lua was not sourced")
local ctask = require("ctask")
ctask.setup({ terminal = { position = "tab", startinsert = false } }) -- default cmd: ctask-ls on PATH
H.ready_client()
vim.o.laststatus = 2
vim.o.statusline = "%{%v:lua.require'ctask'.statusline()%}"
H.observe("statusline_before", ctask.statusline())

local ws = vim.fs.joinpath(vim.env.CTASK_HOME, "tasks", "t1")
local lease = vim.fs.joinpath(ws, "lease.yaml")
local function exists(path)
  return vim.uv.fs_stat(path) ~= nil
end

-- Without a name, :Ctask new asks for one.
local prompts = H.answer_input("t1")
vim.cmd("Ctask new")
H.observe("name_prompt", prompts[1])

-- The lease appears and the statusline says "owned" within 2 s of it.
local t_lease, t_owned
H.wait(20000, function()
  if not t_lease and exists(lease) then
    t_lease = H.ms()
  end
  if not t_owned and ctask.statusline():find("owned", 1, true) then
    t_owned = H.ms()
  end
  return t_lease ~= nil and t_owned ~= nil
end, "a lease file and a statusline saying owned")
H.observe("statusline_owned", ctask.statusline())
H.observe("owned_after_lease_ms", t_owned - t_lease)

-- The launching command opened a :terminal running tmux attach on the task's session.
local term
H.wait(5000, function()
  term = H.terminals("t1")[1]
  return term ~= nil
end, "a terminal buffer for t1")
H.observe("terminal_spec", vim.b[term].ctask_terminal)
H.wait(10000, function()
  local clients = H.tmux("list-clients", "-F", "#{client_session}")
  return clients:find("ctask-t1", 1, true) ~= nil
end, "a tmux client attached to ctask-t1 from the :terminal")
H.observe("tmux_clients", (H.tmux("list-clients", "-F", "#{client_session}")))

-- The agent writes files; the live ctask/diff fills the task's quickfix list.
vim.fn.writefile({}, vim.fs.joinpath(ws, "work", "go"))
local qf = require("ctask.quickfix")
local function qf_items()
  local id = qf.lists["t1"]
  if not id then
    return {}
  end
  local items = vim.fn.getqflist({ id = id, items = 1 }).items
  return vim.tbl_map(function(item)
    return { file = vim.fn.fnamemodify(vim.fn.bufname(item.bufnr), ":t"), text = item.text }
  end, items)
end
local function has(items, file, text)
  for _, item in ipairs(items) do
    if item.file == file and item.text == text then
      return true
    end
  end
  return false
end
H.wait(20000, function()
  local items = qf_items()
  return has(items, "a.txt", "added") and has(items, "b.txt", "added")
end, "the quickfix list to list a.txt and b.txt as added (live ctask/diff)")
H.observe("quickfix_live", qf_items())
H.observe("quickfix_live_title", vim.fn.getqflist({ id = qf.lists["t1"], title = 1 }).title)
H.observe("quickfix_is_current", vim.fn.getqflist({ id = 0 }).id == qf.lists["t1"])

-- The session ends: lease removed, statusline "none" within 2 s of that.
vim.fn.writefile({}, vim.fs.joinpath(ws, "work", "done"))
local t_gone, t_none
H.wait(20000, function()
  if not t_gone and not exists(lease) then
    t_gone = H.ms()
  end
  if not t_none and ctask.statusline():find("none", 1, true) then
    t_none = H.ms()
  end
  return t_gone ~= nil and t_none ~= nil
end, "the lease to go and the statusline to say none")
H.observe("statusline_after", ctask.statusline())
H.observe("none_after_lease_gone_ms", t_none - t_gone)
H.wait(10000, function()
  return H.note_matching("session ended") ~= nil
end, "a 'session ended' notification")
H.wait(10000, function()
  return vim.fn.getqflist({ id = qf.lists["t1"], context = 1 }).context.ctask.final == true
end, "the final ctask/diff")
H.observe("quickfix_final", qf_items())
H.wait(10000, function()
  return not vim.api.nvim_buf_is_valid(term)
end, "the terminal to close when the tmux session ends")
H.observe("terminal_closed", true)
H.observe("tabs_after_close", #vim.api.nvim_list_tabpages())

-- :Ctask diff shows the last session's changes on demand.
vim.cmd("cclose")
vim.fn.setqflist({}, " ", { title = "someone else's list", items = { { filename = "x", text = "x" } } })
vim.cmd("Ctask diff t1")
H.wait(10000, function()
  return vim.fn.getqflist({ id = 0 }).id == qf.lists["t1"] and vim.fn.getqflist({ winid = 0 }).winid ~= 0
end, ":Ctask diff to show the task's list in the quickfix window")
H.observe("diff_title", vim.fn.getqflist({ title = 1 }).title)
H.observe("diff_items", qf_items())
H.observe("errors", H.notes_at(vim.log.levels.ERROR))
H.finish()
