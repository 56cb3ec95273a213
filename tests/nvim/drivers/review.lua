-- Review in Neovim (SPEC 3.13): a task's session changes a.txt and adds b.txt;
-- :Ctask diffthis shows a.txt beside its content at the session's start, and
-- b.txt beside nothing; :Ctask revert a.txt (confirmed) puts it back.
-- Task t1 never ran and has a.txt in its tree; its agent (from the test's
-- config) waits for "go" while the test changes a.txt and adds b.txt.
local H = dofile(vim.fs.joinpath(vim.fs.dirname(_G.arg[0]), "helper.lua"))
H.capture_notify()

local ctask = require("ctask")
ctask.setup({ terminal = { position = "tab", startinsert = false } })
H.ready_client()
local tree = vim.fs.joinpath(vim.env.CTASK_HOME, "tasks", "t1", "work")

ctask.resume("t1")
H.wait(20000, function()
  return vim.uv.fs_stat(vim.fs.joinpath(vim.env.CTASK_HOME, "tasks", "t1", "checkpoints.jsonl")) ~= nil
end, "the session's start checkpoint")
H.change_tree_and_end(tree, "the session")
vim.cmd("tabonly")

-- :Ctask diff fills the quickfix list; <CR> (typed, through the plugin's mapping) on an entry opens the file
-- in a diff split against the list's checkpoint, and the next entry replaces that split.
local listed
require("ctask").diff("t1", function(err)
  listed = err == nil
end)
H.wait(10000, function()
  return listed ~= nil
end, ":Ctask diff t1")
H.check(listed and vim.fn.getqflist({ title = 0 }).title:find("ctask diff t1", 1, true), "no quickfix list of t1")
local qf_texts = {}
for _, item in ipairs(vim.fn.getqflist()) do
  qf_texts[#qf_texts + 1] = vim.fn.bufname(item.bufnr):match("[^/]+$") .. " " .. item.text
end
H.observe("qf_entries", qf_texts)
local function enter(basename)
  return H.quickfix_diff(function(item)
    return vim.fn.bufname(item.bufnr):match("[^/]+$") == basename
  end, basename, 10000, function(name)
    return name:gsub("^.*/checkpoint/", "checkpoint/"):match("[^/]*/?[^/]*/?[^/]+$")
  end)
end
H.observe("qf_modified", enter("a.txt"))
H.observe("qf_deleted", enter("c.txt"))
vim.cmd("cclose")
vim.cmd("tabonly")
vim.cmd("only")

-- :Ctask diffthis on a.txt: a split with its content at the session's start, both in diff mode.
vim.cmd.edit(vim.fn.fnameescape(vim.fs.joinpath(tree, "a.txt")))
local done
require("ctask.review").diffthis(nil, nil, function(err, result)
  done = { err = err, result = result }
end)
H.wait(10000, function()
  return done ~= nil
end, ":Ctask diffthis to open the checkpoint's side")
H.check(done.err == nil, "diffthis failed: " .. vim.inspect(done.err))
local other = done.result.buf
H.observe("checkpoint_buffer", vim.api.nvim_buf_get_name(other))
H.observe("checkpoint_lines", vim.api.nvim_buf_get_lines(other, 0, -1, false))
H.observe("checkpoint_readonly", vim.bo[other].readonly and not vim.bo[other].modifiable)
local diffing = 0
for _, win in ipairs(vim.api.nvim_tabpage_list_wins(0)) do
  if vim.wo[win].diff then
    diffing = diffing + 1
  end
end
H.observe("windows_in_diff", diffing)
H.observe("current_is_the_file", vim.api.nvim_buf_get_name(0) == vim.fs.joinpath(tree, "a.txt"))

-- An added file diffs against nothing; a file outside every tree is one clear error.
vim.cmd("tabnew")
vim.cmd("Ctask diffthis " .. vim.fn.fnameescape(vim.fs.joinpath(tree, "b.txt")))
H.wait(10000, function()
  return vim.api.nvim_buf_get_name(0):find("b.txt", 1, true) ~= nil and #vim.api.nvim_tabpage_list_wins(0) == 2
end, "b.txt beside an empty checkpoint side")
local sides = {}
for _, win in ipairs(vim.api.nvim_tabpage_list_wins(0)) do
  sides[#sides + 1] = vim.api.nvim_buf_get_lines(vim.api.nvim_win_get_buf(win), 0, -1, false)
end
H.observe("added_sides", sides)
vim.cmd("Ctask diffthis /etc/hostname")
H.observe("outside_error", H.note_matching("is not in a task's tree", vim.log.levels.ERROR))

-- :Ctask revert a.txt, confirmed: the file is back, the buffer reloaded, the undo said.
vim.cmd("tabonly")
vim.cmd.edit(vim.fn.fnameescape(vim.fs.joinpath(tree, "a.txt")))
H.observe("revert_question", H.revert_confirmed(vim.fs.joinpath(tree, "a.txt"), 10000))
H.observe("file_after_revert", vim.fn.readfile(vim.fs.joinpath(tree, "a.txt")))
H.observe("buffer_after_revert", vim.api.nvim_buf_get_lines(0, 0, -1, false))
H.observe("b_still_there", vim.uv.fs_stat(vim.fs.joinpath(tree, "b.txt")) ~= nil)
H.observe("revert_note", H.note_matching("back to checkpoint"))
H.observe("errors", #H.notes_at(vim.log.levels.ERROR))
H.finish()
