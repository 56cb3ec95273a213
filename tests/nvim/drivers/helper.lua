-- Shared by the Lua drivers of tests/nvim: observe, wait, fail loudly.
-- A driver prints what it observed (lines "OBSERVED key=json", a final
-- "RESULT json") and raises a Lua error on failure, so `nvim -l` exits 1.
local H = {}

H.args = vim.json.decode(_G.arg[1] or "{}")
H.obs = {}
H.notes = {}
H.t0 = vim.uv.hrtime()

local function out(line)
  io.stdout:write(line .. "\n")
  io.stdout:flush()
end

--- Milliseconds since the driver started.
function H.ms()
  return math.floor((vim.uv.hrtime() - H.t0) / 1e6)
end

function H.observe(key, value)
  H.obs[key] = value
  out(("OBSERVED %s=%s"):format(key, vim.json.encode(value == nil and vim.NIL or value)))
end

function H.fail(msg)
  out("RESULT " .. vim.json.encode(H.obs))
  error("driver failed: " .. msg, 2)
end

function H.check(cond, msg)
  if not cond then
    H.fail(msg)
  end
end

--- Wait for `pred` (polling every 20 ms); fail with `what` after `ms`.
function H.wait(ms, pred, what)
  if not vim.wait(ms, pred, 20) then
    H.fail(("timed out after %d ms waiting for %s"):format(ms, what))
  end
end

--- The statusline without the activity the plugin appends to it (`⚙ working`, `◌ idle`, ...).
---@param text string
---@return string
function H.lease_part(text)
  for _, state in ipairs({ "working", "needs_input", "idle", "exited" }) do
    local suffix = " " .. require("ctask.statusline").activity_label({ state = state })
    if text:sub(-#suffix) == suffix then
      return text:sub(1, #text - #suffix)
    end
  end
  return text
end

--- Record every vim.notify call (and print it).
function H.capture_notify()
  vim.notify = function(msg, level)
    table.insert(H.notes, { msg = msg, level = level or vim.log.levels.INFO })
    out(("NOTIFY %d %s"):format(level or -1, msg))
  end
end

--- Notifications at `level` so far.
function H.notes_at(level)
  return vim.tbl_filter(function(n)
    return n.level == level
  end, H.notes)
end

--- The :terminal buffers the plugin opened on `task`'s tmux session.
function H.terminals(task)
  local out = {}
  for _, buf in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_valid(buf) and vim.b[buf].ctask_task == task and vim.bo[buf].buftype == "terminal" then
      out[#out + 1] = buf
    end
  end
  return out
end

--- Answer every vim.ui.input with `answer`; returns the list of prompts asked (filled as they come).
function H.answer_input(answer)
  local prompts = {}
  vim.ui.input = function(opts, on_confirm)
    prompts[#prompts + 1] = opts.prompt
    on_confirm(answer)
  end
  return prompts
end

--- The texts of the notifications at `level` so far.
function H.messages_at(level)
  return vim.tbl_map(function(n)
    return n.msg
  end, H.notes_at(level))
end

--- The text of the first notification matching the Lua `pattern` (at `level`, if given), or nil.
function H.note_matching(pattern, level)
  for _, n in ipairs(H.notes) do
    if (level == nil or n.level == level) and n.msg:find(pattern) then
      return n.msg
    end
  end
end

--- The ctask client once initialized.
function H.ready_client(ms)
  local client
  H.wait(ms or 15000, function()
    client = vim.lsp.get_clients({ name = "ctask" })[1]
    return client ~= nil and client.initialized
  end, "ctask-ls to initialize")
  return client
end

--- Run a program, return its stdout (trimmed) and exit code.
function H.run(argv)
  local res = vim.system(argv, { text = true }):wait(10000)
  return vim.trim(res.stdout or ""), res.code
end

--- The tmux command on the test's private socket.
function H.tmux(...)
  return H.run(vim.list_extend({ "tmux", "-S", vim.env.CTASK_TMUX_SOCKET }, { ... }))
end

function H.finish()
  out("RESULT " .. vim.json.encode(H.obs))
end

--- <CR> on the quickfix entry that `pick(item)` selects (as a user would press it): the two windows of
--- the diff split it opens, each {name, lines, diff, readonly, current}, once both are named after
--- `what`; `name_of(bufname)` shortens the names (default: as they are).
function H.quickfix_diff(pick, what, ms, name_of)
  vim.cmd("botright copen")
  for i, item in ipairs(vim.fn.getqflist()) do
    if pick(item) then
      vim.api.nvim_win_set_cursor(0, { i, 0 })
    end
  end
  -- What <CR> runs there (typed keys are not read while a -l script runs).
  local map = vim.fn.maparg("<CR>", "n", false, true)
  H.check(vim.bo.filetype == "qf" and map.buffer == 1, "no <CR> mapping in the quickfix window")
  map.callback()
  local sides
  H.wait(ms, function()
    sides = {}
    for _, win in ipairs(vim.api.nvim_tabpage_list_wins(0)) do
      local buf = vim.api.nvim_win_get_buf(win)
      if vim.bo[buf].buftype ~= "quickfix" then
        local name = vim.api.nvim_buf_get_name(buf)
        sides[#sides + 1] = {
          name = name_of and name_of(name) or name,
          lines = vim.api.nvim_buf_get_lines(buf, 0, -1, false),
          diff = vim.wo[win].diff,
          readonly = vim.bo[buf].readonly and not vim.bo[buf].modifiable,
          current = win == vim.api.nvim_get_current_win(),
        }
      end
    end
    return #sides == 2 and sides[1].name:find(what, 1, true) ~= nil and sides[2].name:find(what, 1, true) ~= nil
  end, "<CR> on " .. what .. " to open its diff split")
  return sides
end

--- `:Ctask revert PATH` answered yes (review.revert): its question, once it finished without error.
function H.revert_confirmed(path, ms)
  local asked, reverted
  require("ctask.review").revert(path, {
    confirm = function(q)
      asked = q
      return true
    end,
  }, function(err, result)
    reverted = { err = err, result = result }
  end)
  H.wait(ms, function()
    return reverted ~= nil
  end, ":Ctask revert " .. path)
  H.check(reverted.err == nil, "revert failed: " .. vim.inspect(reverted.err))
  return asked
end

--- The review drivers' session: the test's agent waits for `go` in `tree`; before it, a.txt is changed,
--- b.txt added and c.txt deleted. Returns once the session ended (its notification).
function H.change_tree_and_end(tree, what)
  vim.fn.writefile({ "one", "changed", "three" }, vim.fs.joinpath(tree, "a.txt"))
  vim.fn.writefile({ "new file" }, vim.fs.joinpath(tree, "b.txt"))
  vim.fn.delete(vim.fs.joinpath(tree, "c.txt"))
  vim.fn.writefile({}, vim.fs.joinpath(tree, "go"))
  H.wait(20000, function()
    return H.note_matching("session ended") ~= nil
  end, what .. " to end")
end

return H
