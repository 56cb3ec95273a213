---@brief Review (SPEC 3.13): a file of a task's tree against a checkpoint, in a diff split; revert a file.
---
--- `:Ctask diffthis [FILE] [CHECKPOINT]` opens, beside the file, a read-only
--- buffer `ctask://NAME/checkpoint/N/PATH` with its content at the checkpoint
--- (default: the start of the running or last session, the base `:Ctask diff`
--- uses) and runs `:diffthis` in both windows; a file the agent added diffs
--- against an empty buffer. `:Ctask revert [FILE]` puts a file (or, without
--- one, the whole tree) back as it was at that checkpoint, after a
--- confirmation; ctask takes a checkpoint first, and the message says how to
--- undo it. `<CR>` on an "added", "modified" or "deleted" entry of a task's
--- quickfix list (`:Ctask diff`) opens the file in the window above, in a diff
--- split against the checkpoint the list compares with (a deleted file's own
--- side is an empty buffer); the previous checkpoint split is closed first.
--- Git's entries ("committed", "uncommitted") and other lists keep the
--- default `<CR>`. `quickfix = { diff = false }` turns this off.
---
--- A task of another host (`HOST:TASK`, |ctask-hosts|) has no file on this
--- machine: `<CR>` on its entry opens two read-only scratch buffers, both from
--- that host's server (`ctask.fileAt`): `ctask://HOST:TASK/checkpoint/N/PATH`
--- and `ctask://HOST:TASK/now/PATH`, the file as it is now there. `:Ctask
--- revert` in either puts that file back on its host and reads `now` again.

local client = require("ctask.client")
local protocol = require("ctask.protocol")
local state = require("ctask.state")

local C = protocol.commands
local M = {}

--- The task whose tree holds `file` (absolute) and the path inside it, or nil.
---@param file string
---@return string? name, string? rel
function M.locate(file)
  file = vim.fs.normalize(file)
  for name, ws in pairs(state.workspaces) do
    for _, root in ipairs({ ws.path, ws.real }) do
      if file:sub(1, #root + 1) == root .. "/" then
        return name, file:sub(#root + 2)
      end
    end
  end
end

--- The task and path of one of the plugin's own review buffers (`ctask://NAME/checkpoint/N/PATH`,
--- `ctask://NAME/now/PATH`), or nil.
---@param bufname string
---@return string? name, string? rel
local function review_buffer(bufname)
  local name, rel = bufname:match("^ctask://([^/]+)/checkpoint/%d+/(.+)$")
  if not name then
    name, rel = bufname:match("^ctask://([^/]+)/now/(.+)$")
  end
  return name, rel
end

---@param file? string
---@return string? file, string? name, string? rel
local function target(file)
  local own, own_rel = review_buffer((file and file ~= "") and file or vim.api.nvim_buf_get_name(0))
  if own and require("ctask.hosts").host_of(own) then
    return ("ctask://%s/now/%s"):format(own, own_rel), own, own_rel -- another host's file: no path here
  elseif own and state.workspaces[own] then
    file = vim.fs.joinpath(state.workspaces[own].path, own_rel)
  end
  file = (file and file ~= "") and vim.fn.fnamemodify(file, ":p") or vim.api.nvim_buf_get_name(0)
  if file == "" then
    client.error("no file: open a file of a task's tree, or give one (:Ctask diffthis FILE)")
    return nil
  end
  local name, rel = M.locate(file)
  if not name then
    client.error(("%s is not in a task's tree; :Ctask list shows the tasks"):format(vim.fn.fnamemodify(file, ":~")))
    return nil
  end
  return file, name, rel
end

--- The read-only scratch buffer `bufname` holding `lines`.
---@return integer
local function scratch_buffer(bufname, lines, filetype)
  local buf = vim.fn.bufnr(bufname)
  if buf == -1 then
    buf = vim.api.nvim_create_buf(false, true)
    vim.api.nvim_buf_set_name(buf, bufname)
  end
  vim.bo[buf].modifiable = true
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].modifiable = false
  vim.bo[buf].readonly = true
  vim.bo[buf].bufhidden = "wipe"
  if filetype and filetype ~= "" then
    vim.bo[buf].filetype = filetype
  end
  return buf
end

--- The scratch buffer holding `lines` as `rel` was at checkpoint `n` of task `name`.
---@return integer
local function checkpoint_buffer(name, n, rel, lines, filetype)
  return scratch_buffer(("ctask://%s/checkpoint/%s/%s"):format(name, tostring(n), rel), lines, filetype)
end

--- Window `here` (the file now) in a diff with a split on its left: the file at checkpoint `n`, read-only.
--- The cursor stays in `here`. Returns the checkpoint's buffer.
local function split_against_checkpoint(here, name, n, rel, lines, filetype)
  vim.api.nvim_set_current_win(here)
  vim.cmd("diffthis")
  vim.cmd("leftabove vsplit")
  local buf = checkpoint_buffer(name, n, rel, lines, filetype)
  vim.api.nvim_win_set_buf(0, buf)
  vim.cmd("diffthis")
  vim.api.nvim_set_current_win(here)
  return buf
end

--- Close the checkpoint sides (and another host's `now` sides) open in this tab page, but the current
--- window, and end diff mode in it.
local function close_checkpoint_windows()
  local closed = false
  local here = vim.api.nvim_get_current_win()
  for _, win in ipairs(vim.api.nvim_tabpage_list_wins(0)) do
    local name = vim.api.nvim_buf_get_name(vim.api.nvim_win_get_buf(win))
    if win ~= here and review_buffer(name) and #vim.api.nvim_tabpage_list_wins(0) > 1 then
      vim.api.nvim_win_close(win, true)
      closed = true
    end
  end
  if closed or review_buffer(vim.api.nvim_buf_get_name(0)) then
    vim.cmd("diffoff!")
  end
end

--- Lines of a `ctask.fileAt` content.
---@param content string
---@return string[]
local function lines_of(content)
  local lines = vim.split(content, "\n", { plain = true })
  if lines[#lines] == "" then
    table.remove(lines)
  end
  return lines
end

--- The message of a command's error.
local function message_of(err)
  return type(err) == "table" and tostring(err.message) or tostring(err)
end

--- Read a file of another host's task through its server: at checkpoint `n` (`n` nil: as it is now).
--- `cb(lines)`; a file that did not (or does not) exist is no lines; any other failure is shown and
--- `cb(nil)`.
---@param name string `HOST:TASK`
local function read_remote(name, rel, n, cb)
  local args = { name = name, path = rel }
  if n then
    args.checkpoint = tostring(n)
  else
    args.current = true
  end
  client.execute(C.file_at, args, function(err, result)
    if not err then
      return cb(lines_of(result.content))
    end
    local message = message_of(err)
    if message:match("^checkpoint %d+ of task .- has no file") or message:match("^task .- has no file .- now") then
      return cb({})
    end
    local unreachable = type(err) == "table" and type(err.data) == "table" and err.data.kind == "HostUnreachable"
    local host = require("ctask.hosts").host_of(name)
    client.error(unreachable and message or ("host %s: %s"):format(host, message))
    cb(nil)
  end, { silent = true })
end

--- Read again, from its host, every `ctask://HOST:TASK/now/PATH` buffer of task `name` that is loaded: after
--- a revert, and on each `ctask/diff` of that task (its tree changed), as |'autoread'| and `:checktime` do for
--- a file of this machine. A task of this machine has no such buffers: nothing is read.
---@param name string
function M.refresh_now(name)
  if not require("ctask.hosts").host_of(name) then
    return
  end
  local prefix = ("ctask://%s/now/"):format(name)
  for _, buf in ipairs(vim.api.nvim_list_bufs()) do
    local bufname = vim.api.nvim_buf_get_name(buf)
    if vim.api.nvim_buf_is_loaded(buf) and vim.startswith(bufname, prefix) then
      read_remote(name, bufname:sub(#prefix + 1), nil, function(lines)
        -- unchanged lines are not set again: the diff and the cursor stay as they are
        local valid = lines and vim.api.nvim_buf_is_valid(buf)
        if valid and not vim.deep_equal(lines, vim.api.nvim_buf_get_lines(buf, 0, -1, false)) then
          scratch_buffer(bufname, lines)
        end
      end)
    end
  end
end

--- Another host's file (|ctask-hosts|) in the current window as it is now there, beside its content at
--- checkpoint `n`: two read-only scratch buffers, both from that host's server, in diff mode.
---@param name string `HOST:TASK`
---@param rel string
---@param n integer|string
---@param kind string "added", "modified" or "deleted"
---@param cb? fun(err: any, result: any)
function M.remote_diff(name, rel, n, kind, cb)
  cb = cb or function() end
  local function side(at, skip, k)
    if skip then
      return k({})
    end
    read_remote(name, rel, at, k)
  end
  side(n, kind == "added", function(old)
    if not old then
      return cb("cannot read", nil)
    end
    side(nil, kind == "deleted", function(now)
      if not now then
        return cb("cannot read", nil)
      end
      close_checkpoint_windows()
      local filetype = vim.filetype.match({ filename = rel, contents = now }) or ""
      local here = vim.api.nvim_get_current_win()
      local now_buf = scratch_buffer(("ctask://%s/now/%s"):format(name, rel), now, filetype)
      vim.api.nvim_win_set_buf(here, now_buf)
      local buf = split_against_checkpoint(here, name, n, rel, old, filetype)
      cb(nil, { task = name, path = rel, checkpoint = n, buf = buf, now = now_buf })
    end)
  end)
end

--- `:Ctask diffthis [FILE] [CHECKPOINT]`.
---@param file? string
---@param checkpoint? string
---@param cb? fun(err: any, result: any)
function M.diffthis(file, checkpoint, cb)
  cb = cb or function() end
  local path, name, rel = target(file)
  if not path then
    return cb("no task file", nil)
  end
  if require("ctask.hosts").host_of(name) then
    client.error(("%s of %s is on its host: :Ctask diff %s, then <CR> on its entry"):format(rel, name, name))
    return cb("another host's file", nil)
  end
  local args = { name = name, path = rel, checkpoint = checkpoint }
  client.execute(C.file_at, args, function(err, result)
    local lines, n
    if err then
      local message = type(err) == "table" and err.message or tostring(err)
      local n_absent = message:match("^checkpoint (%d+) of task .- has no file")
      if not n_absent then
        client.error(message)
        return cb(err, nil)
      end
      lines, n = {}, n_absent -- the agent added it: against nothing
    else
      lines, n = lines_of(result.content), result.checkpoint.n
    end
    close_checkpoint_windows()
    if vim.fn.bufnr(path) ~= vim.api.nvim_get_current_buf() then
      vim.cmd.edit(vim.fn.fnameescape(path))
    end
    local buf = split_against_checkpoint(vim.api.nvim_get_current_win(), name, n, rel, lines, vim.bo.filetype)
    cb(nil, { task = name, path = rel, checkpoint = n, buf = buf })
  end, { silent = true })
end

--- `<CR>` in the quickfix window: one of ctask's entries opens in a diff split against its list's checkpoint;
--- anything else gets the default `<CR>`.
---@param cb? fun(err: any, result: any)
function M.quickfix_enter(cb)
  local win = vim.api.nvim_get_current_win()
  local info = vim.fn.getwininfo(win)[1]
  local entry, ctx
  if info and info.quickfix == 1 and info.loclist == 0 then
    local list = vim.fn.getqflist({ idx = vim.fn.line("."), items = 0, context = 0 })
    ctx = type(list.context) == "table" and list.context.ctask or nil
    entry = list.items and list.items[1]
  end
  local data = entry and type(entry.user_data) == "table" and entry.user_data.ctask or nil
  local own = { added = true, modified = true, deleted = true }
  if not (ctx and data and own[data.kind] and require("ctask.config").options.quickfix.diff) then
    vim.api.nvim_feedkeys(vim.keycode("<CR>"), "n", false)
    return
  end
  vim.fn.setqflist({}, "a", { idx = vim.fn.line(".") }) -- the entry becomes the list's current one
  -- As the default <CR>: the previous window, else one that is not the quickfix window, else a new one above.
  local function usable(w)
    return w ~= 0 and w ~= win and vim.api.nvim_win_is_valid(w) and vim.fn.win_gettype(w) == ""
  end
  local prev = vim.fn.win_getid(vim.fn.winnr("#"))
  if not usable(prev) then
    prev = 0
    for _, w in ipairs(vim.api.nvim_tabpage_list_wins(0)) do
      if usable(w) and vim.bo[vim.api.nvim_win_get_buf(w)].buftype == "" then
        prev = w
        break
      end
    end
  end
  if prev ~= 0 then
    vim.api.nvim_set_current_win(prev)
  else
    vim.cmd("aboveleft new")
  end
  if require("ctask.hosts").host_of(data.task) then
    -- Another host's task: its files are there, not here; both sides come from its server.
    if ctx.checkpoint then
      return M.remote_diff(data.task, data.path, ctx.checkpoint, data.kind, cb)
    end
    -- The list may be older than its session's start checkpoint (a large tree's first one takes a while): ask.
    return client.execute(C.diff, { name = data.task }, function(err, fresh)
      local n = not err and type(fresh) == "table" and type(fresh.checkpoint) == "number" and fresh.checkpoint
      if not n then
        client.error(("task %s has no checkpoint of its session's start to compare %s with"):format(data.task, data.path))
        return (cb or function() end)("no checkpoint", nil)
      end
      M.remote_diff(data.task, data.path, n, data.kind, cb)
    end, { silent = true })
  end
  local file = vim.fs.joinpath(state.workspaces[data.task] and state.workspaces[data.task].path or "", data.path)
  if entry.bufnr and entry.bufnr > 0 then
    file = vim.api.nvim_buf_get_name(entry.bufnr)
  end
  M.diffthis(file, ctx.checkpoint and tostring(ctx.checkpoint) or nil, cb)
end

--- `:Ctask revert [FILE]`: after a confirmation, FILE (or the whole tree) back to the session's start.
---@param file? string
---@param opts? {force?: boolean, to?: string, confirm?: fun(question: string): boolean}
---@param cb? fun(err: any, result: any)
function M.revert(file, opts, cb)
  opts, cb = opts or {}, cb or function() end
  local name, paths, what
  if file == nil or file == "" then
    name = state.current()
    if not name then
      client.error("which task? open a file of its tree, or run :Ctask revert FILE")
      return cb("no task", nil)
    end
    paths, what = nil, ("every file of task %s"):format(name)
  else
    local path, rel
    path, name, rel = target(file)
    if not path then
      return cb("no task file", nil)
    end
    paths, what = { rel }, ("%s of task %s"):format(rel, name)
  end
  local question = ("Put %s back as it was at %s?"):format(what, opts.to and ("checkpoint " .. opts.to) or "its session's start")
  local confirm = opts.confirm or function(q)
    return vim.fn.confirm(q, "&Revert\n&Cancel", 2) == 1
  end
  if not confirm(question) then
    return cb("cancelled", nil)
  end
  local args = { name = name, paths = paths, to = opts.to, force = opts.force or nil }
  client.execute(C.revert, args, function(err, result)
    if err then
      return cb(err, nil)
    end
    vim.cmd("checktime")
    M.refresh_now(name) -- another host's file: its `now` side, if shown, is read again from there
    vim.notify(
      ("ctask: %s: back to checkpoint %d (%d restored, %d deleted); undo with :Ctask revert%s to=%d"):format(
        what,
        result.to.n,
        #result.restored,
        #result.deleted,
        file and (" " .. file) or "",
        result.before.n
      ),
      vim.log.levels.INFO
    )
    cb(nil, result)
  end)
end

return M
