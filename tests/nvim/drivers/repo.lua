-- Tasks on a git repository: :Ctask newrepo from a directory inside a real
-- repository (args.repo, with a src/ subdirectory), the agent's terminal in
-- the task's worktree on branch ctask/t1, the branch in status, statusline,
-- list and the session-ended line; completion of the new keys; GitError
-- lines for a folder that is not a repository (args.plain) and for a branch
-- that exists; remove of the repo task (unmerged refused, then forced with
-- the branch deleted).
-- The agent (from the test's config) commits agent.txt on its branch, leaves
-- notes.txt uncommitted, and waits for ../done (in the workspace).
local H = dofile(vim.fs.joinpath(vim.fs.dirname(_G.arg[0]), "helper.lua"))
H.capture_notify()
local ctask = require("ctask")
ctask.setup({ terminal = { position = "tab", startinsert = false } })
H.ready_client()
vim.o.laststatus = 2
vim.o.statusline = "%{%v:lua.require'ctask'.statusline()%}"

local function complete(line)
  return vim.fn.getcompletion(line, "cmdline")
end
local function errors()
  return H.messages_at(vim.log.levels.ERROR)
end
--- Call an API function with a callback, wait for it, return (err, result).
local function call(what, fn, ...)
  local done, e, r = false, nil, nil
  local args = { ... }
  args[#args + 1] = function(err, result)
    done, e, r = true, err, result
  end
  fn(unpack(args))
  H.wait(20000, function()
    return done
  end, what)
  return e, r
end

H.observe("complete_newrepo_keys", complete("Ctask newrepo t9 "))
H.observe("complete_new_keys_b", complete("Ctask new t9 b"))
H.observe("complete_new_repo_dir", complete("Ctask new t9 repo=" .. H.args.repo:sub(1, -2)))

-- "New Task from This Repository" from a subdirectory of the repository, name asked.
vim.cmd.cd(vim.fs.joinpath(H.args.repo, "src"))
local prompts = H.answer_input("t1")
vim.cmd("Ctask newrepo")
H.observe("name_prompt", prompts[1])

local term
H.wait(20000, function()
  H.check(#errors() == 0, "an ERROR line instead of the task: " .. tostring(errors()[1]))
  term = H.terminals("t1")[1]
  return term ~= nil
end, "a terminal buffer for t1")
H.observe("terminal_cwd", vim.b[term].ctask_terminal.cwd)
H.wait(10000, function()
  local clients = H.tmux("list-clients", "-F", "#{client_session}")
  return clients:find("ctask-t1", 1, true) ~= nil
end, "a tmux client attached to ctask-t1 from the :terminal")
H.observe("pane_path", (H.tmux("display-message", "-p", "-t", "=ctask-t1:", "#{pane_current_path}")))

local _, status = call("ctask.status t1", ctask.request, "ctask.status", { name = "t1" })
H.observe("status_repo", status.repo)
local worktree = status.repo.worktree

-- The branch shows in the statusline (the terminal is the current buffer) and in :Ctask status.
H.wait(10000, function()
  return ctask.statusline():find("owned", 1, true) ~= nil
end, "the statusline to say owned")
H.observe("statusline", ctask.statusline())
vim.cmd("Ctask status t1")
H.wait(10000, function()
  return H.note_matching("^ctask: t1: ", vim.log.levels.INFO) ~= nil
end, ":Ctask status t1")
H.observe("status_line", H.note_matching("^ctask: t1: ", vim.log.levels.INFO))

-- :Ctask open goes to the worktree (a tab-local cwd), where t1 is the current task.
vim.cmd("Ctask open t1")
H.wait(10000, function()
  return vim.fn.getcwd() == worktree
end, ":Ctask open to :tcd into t1's worktree")
vim.cmd.edit(vim.fs.joinpath(worktree, "README.md"))
H.observe("open_statusline", ctask.statusline())
vim.cmd("tabclose!")

-- The agent commits on its branch; then it is told to finish.
H.wait(20000, function()
  local subject = H.run({ "git", "-C", worktree, "log", "-1", "--format=%s" })
  return subject == "agent: add agent.txt"
end, "the agent's commit in the worktree")
vim.fn.writefile({}, vim.fs.joinpath(vim.fs.dirname(worktree), "done"))
H.wait(20000, function()
  return H.note_matching("^ctask: task t1: session ended") ~= nil
end, "the session-ended line of t1")
H.observe("ended_line", H.note_matching("^ctask: task t1: session ended"))

-- :Ctask diff after the session: the manifest's files, then git's view under the worktree.
local qf = require("ctask.quickfix")
H.wait(10000, function()
  local id = qf.list_id("t1")
  return id ~= nil and vim.fn.getqflist({ id = id, context = 1 }).context.ctask.final == true
end, "the final ctask/diff of t1")
local function git_entries()
  local out = {}
  for _, item in ipairs(vim.fn.getqflist({ id = qf.lists["t1"], items = 1 }).items) do
    if item.text:find("committed", 1, true) then
      out[#out + 1] = { file = vim.api.nvim_buf_get_name(item.bufnr), text = item.text, valid = item.valid }
    end
  end
  return out
end
-- The final ctask/diff notification alone filled the list, git's view included.
H.observe("final_git_entries", git_entries())
vim.cmd("Ctask diff t1")
H.wait(10000, function()
  return #git_entries() > 0 and H.note_matching("^ctask: t1 branch ") ~= nil
end, ":Ctask diff t1 to list git's view")
H.observe("diff_git_entries", git_entries())
H.observe("diff_git_line", H.note_matching("^ctask: t1 branch "))
vim.cmd("cclose")

vim.cmd("Ctask list")
H.wait(10000, function()
  local buf = vim.fn.bufnr("ctask://list")
  return buf ~= -1 and #vim.api.nvim_buf_get_lines(buf, 0, -1, false) >= 1
end, "the ctask://list buffer")
H.observe("list_lines", vim.api.nvim_buf_get_lines(vim.fn.bufnr("ctask://list"), 0, -1, false))
vim.cmd("close")

-- Not a repository: one ERROR line from the command, nothing created.
vim.cmd.cd(H.args.plain)
local before = #errors()
vim.cmd("Ctask newrepo t2")
H.wait(15000, function()
  return #errors() > before
end, "an ERROR line for :Ctask newrepo outside a repository")
vim.wait(300, function()
  return false
end) -- a duplicate line would arrive by now
H.observe("not_a_repo_lines", vim.list_slice(errors(), before + 1))
local err = call("ctask.newrepo t3", ctask.newrepo, "t3")
H.observe("not_a_repo_error", { kind = err and err.data and err.data.kind, reason = err and err.data and err.data.reason })

-- A branch that exists: the same, from :Ctask new with repo= and branch=.
err = call("ctask.new t4", ctask.new, { name = "t4", repo = H.args.repo, branch = "ctask/t1" })
H.observe("branch_exists_error", {
  kind = err and err.data and err.data.kind,
  reason = err and err.data and err.data.reason,
  message = errors()[#errors()],
})

-- Remove: uncommitted changes refuse before any question; ! asks (delete the branch too?) and forces.
local asked = {}
vim.ui.select = function(items, opts, on_choice)
  asked[#asked + 1] = { items = items, prompt = opts.prompt }
  on_choice(items[2])
end
before = #errors()
err = call("remove t1", ctask.remove, "t1", false)
H.observe("remove_unforced", { kind = err and err.data and err.data.kind, reason = err and err.data and err.data.reason })
H.observe("remove_unforced_lines", vim.list_slice(errors(), before + 1))
call("remove! t1", ctask.remove, "t1", true)
H.observe("remove_asked", asked)
H.observe("removed_line", H.note_matching("^ctask: removed task t1"))
H.observe("errors", errors())
H.finish()
