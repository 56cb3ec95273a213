-- A task's agent asks for permission (its hook says PermissionRequest): the
-- statusline shows "needs input" with the warning highlight, a WARN
-- notification names the task and how to attach, :Ctask list shows it; the
-- session ends: an INFO line. Then the same with `notify = false`: silence.
-- The agent (from the test's config) is tests/hook_agent.py: UserPromptSubmit,
-- wait for "ask", PermissionRequest (Bash), wait for "quit", exit.
local H = dofile(vim.fs.joinpath(vim.fs.dirname(_G.arg[0]), "helper.lua"))
H.capture_notify()

local ctask = require("ctask")
ctask.setup({ terminal = { position = "tab", startinsert = false }, notify = H.args.notify ~= false })
H.ready_client()
vim.o.laststatus = 2
vim.o.statusline = "%{%v:lua.require'ctask'.statusline({'highlight': v:true})%}"

local tree = vim.fs.joinpath(vim.env.CTASK_HOME, "tasks", "t1", "work")
local function has(text)
  return ctask.statusline():find(text, 1, true) ~= nil
end

ctask.new({ name = "t1" })
H.wait(20000, function()
  return has("working")
end, "the statusline to say working (the agent's UserPromptSubmit hook)")
H.observe("statusline_working", ctask.statusline())
H.observe("highlight_working", ctask.statusline_highlight() or vim.NIL)

local t_ask = H.ms()
vim.fn.writefile({}, vim.fs.joinpath(tree, "ask"))
H.wait(10000, function()
  return has("needs input")
end, "the statusline to say needs input")
H.observe("needs_input_ms", H.ms() - t_ask)
H.observe("statusline_needs_input", ctask.statusline())
H.observe("statusline_highlighted", ctask.statusline({ highlight = true }))
H.observe("highlight_needs_input", ctask.statusline_highlight() or vim.NIL)
H.observe("hl_link", vim.api.nvim_get_hl(0, { name = "CtaskNeedsInput" }).link or vim.NIL)
H.observe("lease_activity", ctask.lease("t1").activity)
H.observe("conversation_id", ctask.lease("t1").conversation_id or vim.NIL)
if H.args.notify ~= false then
  H.wait(5000, function()
    return H.note_matching("needs your input", vim.log.levels.WARN) ~= nil
  end, "a WARN notification for needs_input")
else
  vim.wait(500)
end
H.observe("warnings", vim.tbl_map(function(n)
  return n.msg
end, H.notes_at(vim.log.levels.WARN)))

-- :Ctask list shows the activity, the waiting task highlighted.
vim.cmd("Ctask list")
local list_buf
H.wait(10000, function()
  list_buf = vim.fn.bufnr("ctask://list")
  return list_buf ~= -1 and vim.api.nvim_buf_line_count(list_buf) >= 2
    and vim.api.nvim_buf_get_lines(list_buf, 0, 1, false)[1] ~= ""
end, "the :Ctask list window")
H.observe("list_lines", vim.api.nvim_buf_get_lines(list_buf, 0, -1, false))
local ns = vim.api.nvim_create_namespace("ctask_list")
local marks = vim.api.nvim_buf_get_extmarks(list_buf, ns, 0, -1, { details = true })
H.observe("list_highlights", vim.tbl_map(function(m)
  return { row = m[2], hl = m[4].hl_group }
end, marks))
vim.cmd("close")

-- The agent ends: the session-ended line (this server owns the session).
vim.fn.writefile({}, vim.fs.joinpath(tree, "quit"))
H.wait(15000, function()
  local lease = ctask.lease("t1")
  return lease ~= nil and lease.kind == "none" and lease.activity == nil
end, "the session to end and its activity to go")
if H.args.notify ~= false then
  H.wait(5000, function()
    return H.note_matching("session ended", vim.log.levels.INFO) ~= nil
  end, "a session-ended notification")
else
  vim.wait(500)
end
H.observe("ended", H.note_matching("session ended") or vim.NIL)
H.observe("statusline_after", ctask.statusline())
H.observe("errors", vim.tbl_map(function(n)
  return n.msg
end, H.notes_at(vim.log.levels.ERROR)))
H.finish()
