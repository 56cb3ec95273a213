-- Review of another host's task (SPEC 10, 3.13) over real ssh (tests/nvim/test_nvim_hosts_review.py):
-- host1's task t1 has a.txt and c.txt at its session's start; while it runs the test's agent, this
-- driver changes a.txt, adds b.txt and deletes c.txt in host1's tree (the same filesystem: the hosts
-- differ by their environment), then <CR> on :Ctask diff host1:t1's entries opens two scratch
-- buffers from host1's server, and :Ctask revert in the `now` one puts a.txt back there.
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
vim.fn.writefile({ "one", "changed", "three" }, vim.fs.joinpath(tree, "a.txt"))
vim.fn.writefile({ "new file" }, vim.fs.joinpath(tree, "b.txt"))
vim.fn.delete(vim.fs.joinpath(tree, "c.txt"))
vim.fn.writefile({}, vim.fs.joinpath(tree, "go"))
H.wait(20000, function()
  return H.note_matching("session ended") ~= nil
end, "host1's session to end")
vim.cmd("tabonly")
vim.cmd("only")
-- No file of host1's tree is known to this machine's Neovim from here on: what it shows comes from ssh.
local listed
ctask.diff("host1:t1", function(err)
  listed = err == nil
end)
H.wait(20000, function()
  return listed ~= nil
end, ":Ctask diff host1:t1")
H.check(listed, "no quickfix list of host1:t1")
H.observe("qf_title", vim.fn.getqflist({ title = 0 }).title)

local function enter(rel)
  vim.cmd("botright copen")
  for i, item in ipairs(vim.fn.getqflist()) do
    if item.user_data and item.user_data.ctask and item.user_data.ctask.path == rel then
      vim.api.nvim_win_set_cursor(0, { i, 0 })
    end
  end
  local map = vim.fn.maparg("<CR>", "n", false, true)
  H.check(vim.bo.filetype == "qf" and map.buffer == 1, "no <CR> mapping in the quickfix window")
  map.callback()
  local sides
  H.wait(20000, function()
    sides = {}
    for _, win in ipairs(vim.api.nvim_tabpage_list_wins(0)) do
      local buf = vim.api.nvim_win_get_buf(win)
      if vim.bo[buf].buftype ~= "quickfix" then
        sides[#sides + 1] = {
          name = vim.api.nvim_buf_get_name(buf),
          lines = vim.api.nvim_buf_get_lines(buf, 0, -1, false),
          diff = vim.wo[win].diff,
          readonly = vim.bo[buf].readonly and not vim.bo[buf].modifiable,
          current = win == vim.api.nvim_get_current_win(),
        }
      end
    end
    return #sides == 2 and sides[1].name:find(rel, 1, true) ~= nil and sides[2].name:find(rel, 1, true) ~= nil
  end, "<CR> on " .. rel .. " to open its diff split")
  return sides
end
H.observe("qf_modified", enter("a.txt"))
H.observe("qf_added", enter("b.txt"))
H.observe("qf_deleted", enter("c.txt"))
H.observe("qf_modified_again", enter("a.txt"))
vim.cmd("cclose")

-- :Ctask revert in the `now` side (confirmed): a.txt is back on host1, and that side is read again.
local now_buf = vim.api.nvim_get_current_buf()
local asked, reverted
require("ctask.review").revert(vim.api.nvim_buf_get_name(now_buf), {
  confirm = function(q)
    asked = q
    return true
  end,
}, function(err, result)
  reverted = { err = err, result = result }
end)
H.wait(20000, function()
  return reverted ~= nil
end, ":Ctask revert on host1")
H.check(reverted.err == nil, "revert failed: " .. vim.inspect(reverted.err))
H.observe("revert_question", asked)
H.wait(20000, function()
  return vim.api.nvim_buf_get_lines(now_buf, 0, -1, false)[2] == "two"
end, "the now side to be read again")
H.observe("now_after_revert", vim.api.nvim_buf_get_lines(now_buf, 0, -1, false))
H.observe("errors", vim.tbl_map(function(n)
  return n.msg
end, H.notes_at(vim.log.levels.ERROR)))
H.finish()
