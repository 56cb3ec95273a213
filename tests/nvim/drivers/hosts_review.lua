-- Review of another host's task (SPEC 10, 3.13) over real ssh (tests/nvim/test_nvim_hosts_review.py):
-- host1's task t1 has a.txt and c.txt at its session's start; while it runs the test's agent, this
-- driver changes a.txt, adds b.txt and deletes c.txt in host1's tree (the same filesystem: the hosts
-- differ by their environment), then <CR> on :Ctask diff host1:t1's entries opens two scratch
-- buffers from host1's server, and :Ctask revert in the `now` one puts a.txt back there. A diff
-- opened while the session runs follows the changes.
local H = dofile(vim.fs.joinpath(vim.fs.dirname(_G.arg[0]), "helper.lua"))
H.capture_notify()

local ctask = require("ctask")
ctask.setup({ hosts = H.args.hosts, terminal = { position = "tab", startinsert = false } })
H.wait(30000, function()
  local c = vim.lsp.get_clients({ name = "ctask@host1" })[1]
  return c ~= nil and c.initialized
end, "ctask@host1 to initialize")
local tree = H.args.tree

ctask.resume("host1:t1")
H.wait(20000, function()
  return vim.uv.fs_stat(H.args.checkpoints) ~= nil
end, "the session's start checkpoint on host1")
local function listed_diff()
  local listed
  ctask.diff("host1:t1", function(err)
    listed = err == nil
  end)
  H.wait(20000, function()
    return listed ~= nil
  end, ":Ctask diff host1:t1")
  H.check(listed, "no quickfix list of host1:t1")
end
local function enter(rel)
  return H.quickfix_diff(function(item)
    return item.user_data and item.user_data.ctask and item.user_data.ctask.path == rel
  end, rel, 20000)
end

-- While the session runs, a.txt's diff is open: its `now` side follows the file on host1 (ctask/diff).
vim.fn.writefile({ "one", "live", "three" }, vim.fs.joinpath(tree, "a.txt"))
listed_diff()
H.observe("qf_live", enter("a.txt"))
local live_buf = vim.api.nvim_get_current_buf()
H.change_tree_and_end(tree, "host1's session")
H.wait(20000, function()
  return vim.api.nvim_buf_get_lines(live_buf, 0, -1, false)[2] == "changed"
end, "the now side to follow host1's tree")
H.observe("now_followed", vim.api.nvim_buf_get_lines(live_buf, 0, -1, false))

vim.cmd("cclose")
vim.cmd("tabonly")
vim.cmd("only")
-- No file of host1's tree is known to this machine's Neovim from here on: what it shows comes from ssh.
listed_diff()
H.observe("qf_title", vim.fn.getqflist({ title = 0 }).title)
H.observe("qf_modified", enter("a.txt"))
-- A list drawn before the session's start checkpoint existed names none: <CR> asks host1's server again.
local list = vim.fn.getqflist({ context = 0 })
list.context.ctask.checkpoint = nil
vim.fn.setqflist({}, "a", { context = list.context })
H.observe("qf_added", enter("b.txt"))
H.observe("qf_deleted", enter("c.txt"))
H.observe("qf_modified_again", enter("a.txt"))
vim.cmd("cclose")

-- :Ctask revert in the `now` side (confirmed): a.txt is back on host1, and that side is read again.
local now_buf = vim.api.nvim_get_current_buf()
H.observe("revert_question", H.revert_confirmed(vim.api.nvim_buf_get_name(now_buf), 20000))
H.wait(20000, function()
  return vim.api.nvim_buf_get_lines(now_buf, 0, -1, false)[2] == "two"
end, "the now side to be read again")
H.observe("now_after_revert", vim.api.nvim_buf_get_lines(now_buf, 0, -1, false))
H.observe("errors", vim.tbl_map(function(n)
  return n.msg
end, H.notes_at(vim.log.levels.ERROR)))
H.finish()
