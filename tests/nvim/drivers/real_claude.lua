-- The real Claude Code, launched by this Neovim's own ctask-ls (SPEC 3.10):
-- its hooks reach the statusline. The test (tests/nvim/test_nvim_real_claude.py)
-- types into the task's pane, lets the scripted model ask for Bash and
-- approves it; this driver watches the statusline and drops a mark file in
-- `marks` at each state so the test knows when to act. Then :Ctask stop.
local H = dofile(vim.fs.joinpath(vim.fs.dirname(_G.arg[0]), "helper.lua"))
H.capture_notify()

local ctask = require("ctask")
ctask.setup({ terminal = { position = "tab", startinsert = false } })
H.ready_client()
local WAIT = 60000

local function has(text)
  return ctask.statusline():find(text, 1, true) ~= nil
end
local function mark(name)
  vim.fn.writefile({}, vim.fs.joinpath(H.args.marks, name))
end
local function reach(symbol, what)
  H.wait(WAIT, function()
    return has(symbol)
  end, what)
  return ctask.statusline()
end

ctask.new({ name = "t1" })
H.observe("statusline_idle", reach("◌ idle", "idle: Claude Code's SessionStart hook"))
H.observe("conversation_start", ctask.lease("t1").conversation_id or vim.NIL)
mark("idle")
H.observe("statusline_working", reach("⚙ working", "working: its UserPromptSubmit hook"))
mark("working")
H.observe("statusline_needs_input", reach("⚠ needs input", "needs input: its PermissionRequest hook"))
H.observe("statusline_highlighted", ctask.statusline({ highlight = true }))
H.observe("needs_input_activity", ctask.lease("t1").activity)
H.wait(5000, function()
  return H.note_matching("needs your input", vim.log.levels.WARN) ~= nil
end, "a WARN notification for needs_input")
H.observe("warning", H.note_matching("needs your input", vim.log.levels.WARN))
mark("needs_input")
H.observe("statusline_idle_after", reach("◌ idle", "idle again: its Stop hook"))
H.observe("conversation_end", ctask.lease("t1").conversation_id or vim.NIL)

local stopped
ctask.stop("t1", function(err)
  stopped = { err = err or vim.NIL }
end)
H.wait(30000, function()
  return stopped ~= nil and H.note_matching("session ended") ~= nil
end, ":Ctask stop to end and record the session")
H.observe("stop_error", stopped.err)
H.observe("ended", H.note_matching("session ended"))
H.finish()
