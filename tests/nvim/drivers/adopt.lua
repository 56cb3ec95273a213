-- The statusline follows lease changes made by others (stale -> held by another
-- process here -> held by another host), each within 2 s; then a fresh lease of
-- another host: resume asks through vim.ui.select. Cancel -> one ERROR line,
-- nothing changes; Adopt -> owned here, with a terminal.
local H = dofile(vim.fs.joinpath(vim.fs.dirname(_G.arg[0]), "helper.lua"))
H.capture_notify()
local ctask = require("ctask")
ctask.setup({ settings = { autoAdopt = false }, terminal = { position = "current" } })
H.ready_client()

local answer = "Cancel"
local asked = {}
vim.ui.select = function(items, opts, on_choice)
  local shown = vim.tbl_map(opts.format_item or tostring, items)
  asked[#asked + 1] = { prompt = opts.prompt, items = shown }
  for _, item in ipairs(items) do
    if (opts.format_item or tostring)(item) == answer then
      return on_choice(item)
    end
  end
  on_choice(nil)
end

local ws = vim.fs.joinpath(vim.env.CTASK_HOME, "tasks", "r1")
vim.cmd.tcd(vim.fn.fnameescape(vim.fs.joinpath(ws, "work"))) -- r1 is the current task by cwd (its tree)

--- Replace r1's lease (atomically, as ctask does) with one held by host/pid.
local function write_lease(host, pid)
  local now = os.date("!%Y-%m-%dT%H:%M:%SZ")
  local lines = {
    "schema: 1",
    ("session_id: %s-%d-%d"):format(host, pid, os.time()),
    "host: " .. host,
    "pid: " .. pid,
    "agent: python",
    "mode: persistent",
    "tmux_session: ctask-r1",
    ('started_at: "%s"'):format(now),
    ('heartbeat_at: "%s"'):format(now),
    "owner: cli",
  }
  local path = vim.fs.joinpath(ws, "lease.yaml")
  vim.fn.writefile(lines, path .. ".tmp")
  assert(vim.uv.fs_rename(path .. ".tmp", path))
end

--- Wait for the statusline to become `want`; observe how long it took.
local function expect(key, want)
  local t0 = H.ms()
  H.wait(10000, function()
    return H.lease_part(ctask.statusline()) == want
  end, ("statusline %q (it is %q)"):format(want, ctask.statusline()))
  H.observe(key, { statusline = ctask.statusline(), ms = H.ms() - t0 })
end

expect("stale", "! r1 stale")
write_lease(vim.uv.os_gethostname(), vim.fn.getpid())
expect("busy", ("◐ r1 pid %d"):format(vim.fn.getpid()))
write_lease("elsewhere", 4242)
expect("remote", "◆ r1 @elsewhere")

vim.cmd("Ctask resume r1")
H.wait(10000, function()
  return #H.notes_at(vim.log.levels.ERROR) > 0
end, "the declined adoption's error")
H.observe("asked_first", asked[1])
H.observe("declined_errors", vim.tbl_map(function(n)
  return n.msg
end, H.notes_at(vim.log.levels.ERROR)))
H.observe("statusline_after_cancel", ctask.statusline())

answer = "Adopt"
vim.cmd("Ctask resume r1")
H.wait(15000, function()
  return ctask.statusline():find("owned", 1, true) ~= nil and vim.bo.buftype == "terminal"
end, "r1 to be adopted here with a terminal")
local lease_lines = vim.fn.readfile(vim.fs.joinpath(ws, "lease.yaml"))
H.observe("lease_host_while_adopted", vim.tbl_filter(function(l)
  return vim.startswith(l, "host:")
end, lease_lines)[1])
H.observe("asked_count", #asked)
H.observe("statusline_adopted", ctask.statusline())
H.observe("errors", #H.notes_at(vim.log.levels.ERROR))
H.finish()
