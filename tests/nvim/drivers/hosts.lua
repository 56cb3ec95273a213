-- Tasks on two hosts over real ssh (tests/nvim/test_nvim_hosts.py): new on each, list, complete,
-- attach to host1's, then (the test kills host2) one line about host2 while host1's task works.
local H = dofile(vim.fs.joinpath(vim.fs.dirname(_G.arg[0]), "helper.lua"))
H.capture_notify()

local ctask = require("ctask")
ctask.setup({ hosts = H.args.hosts, terminal = { position = "tab", startinsert = false } })

local function client_of(name)
  return vim.lsp.get_clients({ name = name })[1]
end
for _, name in ipairs({ "ctask", "ctask@host1", "ctask@host2" }) do
  H.wait(30000, function()
    local c = client_of(name)
    return c ~= nil and c.initialized
  end, name .. " to initialize")
end
H.observe("cmd_host1", client_of("ctask@host1").config.ctask_cmd)
H.observe("cmd_host2", client_of("ctask@host2").config.ctask_cmd)

-- The host without ctask-ls there is reported once, in one line.
H.wait(20000, function()
  return H.note_matching("host nols") ~= nil
end, "a line about host nols")
H.observe("nols_warning", H.note_matching("host nols"))

local function terminal_text(buf)
  return table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), "\n")
end

local function wait_terminal(task)
  local term
  H.wait(20000, function()
    term = H.terminals(task)[1]
    return term ~= nil
  end, "a terminal for " .. task)
  return term
end

-- A task on each host, from Neovim.
vim.cmd("Ctask new host1:t1 agent=bursty")
local term1 = wait_terminal("host1:t1")
vim.cmd("Ctask new host2:t2 agent=bursty")
local term2 = wait_terminal("host2:t2")
H.observe("terminal_spec_t1", vim.b[term1].ctask_terminal)
H.wait(20000, function()
  return terminal_text(term1):find("bursty agent ready", 1, true) ~= nil
end, "host1's agent in its terminal")
H.wait(20000, function()
  return terminal_text(term2):find("bursty agent ready", 1, true) ~= nil
end, "host2's agent in its terminal")

H.observe("complete_attach", require("ctask.commands").complete("", "Ctask attach ", 13))
H.observe("complete_new", require("ctask.commands").complete("", "Ctask new ", 10))

local function list_lines()
  local done
  ctask.list(function()
    done = true
  end)
  H.wait(20000, function()
    return done
  end, ":Ctask list")
  local buf = vim.fn.bufnr("ctask://list")
  local lines = vim.api.nvim_buf_get_lines(buf, 0, -1, false)
  vim.cmd("silent! bwipeout! " .. buf)
  return lines
end
H.wait(20000, function()
  local lines = list_lines()
  local running = 0
  for _, l in ipairs(lines) do
    running = running + (l:find("running", 1, true) and 1 or 0)
  end
  return running >= 2
end, "both tasks running in :Ctask list")
H.observe("list_before", list_lines())

-- Attach to host1's task again: the terminal closes, :Ctask attach opens a new one on ssh -t.
vim.api.nvim_buf_delete(term1, { force = true })
vim.cmd("Ctask attach host1:t1")
term1 = wait_terminal("host1:t1")
H.observe("terminal_spec_t1", vim.b[term1].ctask_terminal)
H.wait(20000, function()
  return terminal_text(term1):find("bursty agent ready", 1, true) ~= nil
end, "host1's agent in the attached terminal")
H.observe("terminal_ready", true)
vim.fn.chansend(vim.b[term1].terminal_job_id, "burst 0.3\r")
H.wait(20000, function()
  return terminal_text(term1):find("working... 1", 1, true) ~= nil
end, "host1's agent to work on what was typed")
H.observe("terminal_burst", true)
vim.api.nvim_set_current_buf(term1)
H.wait(10000, function()
  return ctask.statusline():find("host1:t1", 1, true) ~= nil
end, "the statusline of host1:t1")
H.observe("statusline_t1", ctask.statusline())

-- The test kills host2 now.
local before = #H.notes
vim.fn.writefile({}, vim.fs.joinpath(H.args.sync, "kill"))
H.wait(20000, function()
  return vim.uv.fs_stat(vim.fs.joinpath(H.args.sync, "killed")) ~= nil
end, "the test to kill host2")
local report
H.wait(30000, function()
  for i = before + 1, #H.notes do
    if H.notes[i].msg:find("host host2", 1, true) then
      report = H.notes[i].msg
      return true
    end
  end
end, "a line about host2")
H.observe("host2_report", report)
-- The statusline of host2's task (its terminal's ssh has ended): the host, unreachable.
vim.cmd("tabnew")
require("ctask.state").remember("host2:t2")
H.observe("statusline_t2_after", ctask.statusline())

-- host1 is not affected.
H.observe("list_after", list_lines())
local n = #H.notes
vim.cmd("Ctask status host1:t1")
H.wait(15000, function()
  for i = n + 1, #H.notes do
    if H.notes[i].msg:find("^ctask: host1:t1: ") then
      return true
    end
  end
end, ":Ctask status host1:t1")
for i = n + 1, #H.notes do
  if H.notes[i].msg:find("^ctask: host1:t1: ") then
    H.observe("status_t1_after", H.notes[i].msg)
  end
end
vim.fn.chansend(vim.b[term1].terminal_job_id, "burst 0.3\r")
H.wait(20000, function()
  local _, count = terminal_text(term1):gsub("done", "")
  return count >= 2
end, "host1's agent to work again after host2 died")
H.observe("terminal_burst_after", true)

-- host2 stays down: :Ctask reconnect host2 says so again (one line), nothing else changes.
local reconnected
ctask.reconnect("host2", function(ok)
  reconnected = ok
end)
H.wait(30000, function()
  return reconnected ~= nil
end, ":Ctask reconnect host2")
H.observe("reconnect_host2", reconnected)

-- setup() again without host1 (still up) and nols: host1's server stops on purpose (no warning), nothing
-- of it is shown; host2 stays configured.
local host1_client = client_of("ctask@host1")
H.observe("host1_up_before_setup", host1_client ~= nil and not host1_client:is_stopped())
local without_host1 = vim.tbl_filter(function(h)
  return h.name == "host2"
end, H.args.hosts)
ctask.setup({ hosts = without_host1, terminal = { position = "tab", startinsert = false } })
H.wait(10000, function()
  return #vim.lsp.get_clients({ name = "ctask@host1", _uninitialized = true }) == 0
end, "host1's server to stop")
H.observe("hosts_after_setup", vim.tbl_map(function(h)
  return h.name
end, ctask.hosts()))
require("ctask.state").remember("host1:t1")
H.observe("statusline_t1_after_setup", ctask.statusline())
H.observe("list_after_setup", list_lines())

local others = {}
for _, note in ipairs(H.notes) do
  if note.level >= vim.log.levels.WARN and not note.msg:find("host host2", 1, true) and not note.msg:find("host nols", 1, true) then
    others[#others + 1] = note.msg
  end
end
H.observe("errors_other_hosts", others)
H.finish()
