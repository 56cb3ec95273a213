---@brief Handlers of what ctask-ls sends: `ctask/*` notifications and questions.
---
--- Each is an |lsp-handler| (`function(err, result, ctx)`), wired in
--- lsp/ctask.lua. They only update the cache, the quickfix list and the
--- statusline; they never block.

local state = require("ctask.state")

local M = {}

--- Tell statuslines and User autocommands that a lease changed.
---@param info ctask.LeaseInfo
local function lease_changed(info)
  pcall(vim.cmd.redrawstatus, { bang = true })
  vim.api.nvim_exec_autocmds("User", { pattern = "CtaskLeaseState", modeline = false, data = info })
end

--- `ctask/leaseState`: cache the task's lease; redraw only when it changed.
---@type lsp.Handler
function M.lease_state(_, params, ctx)
  if type(params) == "table" and params.removed == true and type(params.name) == "string" then
    state.forget(params.name)
    pcall(vim.cmd.redrawstatus, { bang = true })
    return
  end
  local changed, info = state.update_lease(params, ctx and ctx.client_id)
  if changed and info then
    lease_changed(info)
  end
  local id = ctx and ctx.client_id
  if id and state.repos_client ~= id and not state.repos_asked[id] then
    -- Notifications carry no repository: ask once per server for the branches of the tasks.
    state.repos_client = id
    state.repos_asked[id] = true
    vim.schedule(function()
      local client = vim.lsp.get_client_by_id(id)
      if not client or client:is_stopped() then
        return
      end
      local command = require("ctask.protocol").commands.list
      client:request("workspace/executeCommand", { command = command, arguments = { vim.empty_dict() } }, function(err, result)
        if err or type(result) ~= "table" then
          return
        end
        local host = require("ctask.hosts").of_client(id)
        if host then
          result = require("ctask.hosts").qualify_result(host, result)
        end
        for _, task in ipairs(require("ctask.actions").tasks_of(result)) do
          state.learn(task)
        end
        pcall(vim.cmd.redrawstatus, { bang = true })
      end)
    end)
  end
end

--- Define the highlight groups (a link each, `default`: a colorscheme's own definition wins).
function M.define_highlights()
  vim.api.nvim_set_hl(0, require("ctask.statusline").NEEDS_INPUT_HL, { link = "DiagnosticWarn", default = true })
end

--- Tasks whose session end `ctask/sessionEnded` announced (no second line from `ctask/activity`).
---@type table<string, boolean>
local ended_told = {}

---@param name string
---@return boolean
local function owned_here(name)
  local info = state.tasks[name]
  return info ~= nil and info.kind == "owned"
end

--- `ctask/activity`: cache the task's activity, redraw, and announce `needs_input` and an ended session.
---@type lsp.Handler
function M.activity(_, params, _)
  if type(params) ~= "table" or type(params.name) ~= "string" then
    return
  end
  local changed, before = state.update_activity(params)
  if not changed then
    return
  end
  M.define_highlights()
  pcall(vim.cmd.redrawstatus, { bang = true })
  local act = state.activities[params.name].activity
  local now = act and act.state or nil
  vim.api.nvim_exec_autocmds("User", {
    pattern = "CtaskActivity",
    modeline = false,
    data = { name = params.name, activity = act, before = before },
  })
  local opts = require("ctask.config").options
  if not opts.notify then
    return
  end
  local name = params.name
  if now ~= nil and now ~= "exited" then
    ended_told[name] = nil -- running again: its next end is news
  end
  if now == "needs_input" then
    local why = act.message and (" (" .. require("ctask.client").one_line(act.message) .. ")") or ""
    vim.notify(
      ("ctask: task %s needs your input%s; attach with :Ctask attach %s"):format(name, why, name),
      vim.log.levels.WARN
    )
  elseif (now == nil or now == "exited") and before ~= nil and before ~= "exited" and not owned_here(name) then
    -- A session this Neovim's server did not own ended (an owned one's end is ctask/sessionEnded's).
    if opts.notify_session_end and not ended_told[name] then
      vim.notify(
        ("ctask: task %s: session ended; :Ctask diff %s shows its changes, :Ctask resume %s starts it again"):format(
          name,
          name,
          name
        ),
        vim.log.levels.INFO
      )
    end
  end
end

--- `ctask/diff`: fill the task's quickfix list (live, and once with final = true).
---@type lsp.Handler
function M.diff(_, params, _)
  if type(params) ~= "table" or type(params.name) ~= "string" then
    return
  end
  local opts = require("ctask.config").options
  require("ctask.quickfix").set(params.name, params, { open = opts.quickfix.open })
  require("ctask.review").refresh_now(params.name)
end

---@param summary table?
---@return string
local function describe_summary(summary)
  if type(summary) ~= "table" then
    return ""
  end
  local parts = {}
  if type(summary.end_reason) == "string" then
    parts[#parts + 1] = summary.end_reason
  end
  if type(summary.exit_status) == "number" then
    parts[#parts + 1] = "exit " .. summary.exit_status
  end
  local counts = type(summary.counts) == "table" and summary.counts or {}
  parts[#parts + 1] = ("+%d ~%d -%d"):format(
    tonumber(counts.added) or 0,
    tonumber(counts.modified) or 0,
    tonumber(counts.deleted) or 0
  )
  local git = summary.git
  if type(git) == "table" and type(git.branch) == "string" and type(git.error) ~= "string" then
    -- The lists stop at 500 entries; `counts` has the full numbers.
    local counts = type(git.counts) == "table" and git.counts or {}
    local commits = tonumber(counts.commits) or (type(git.commits) == "table" and #git.commits) or 0
    local text = ("branch %s: %d commit%s"):format(git.branch, commits, commits == 1 and "" or "s")
    local dirty = tonumber(counts.uncommitted) or (type(git.uncommitted) == "table" and #git.uncommitted) or 0
    if dirty > 0 then
      text = text .. (", %d uncommitted"):format(dirty)
    end
    parts[#parts + 1] = text
  end
  return " (" .. table.concat(parts, ", ") .. ")"
end
M.describe_summary = describe_summary

--- `ctask/sessionEnded`: one line saying how it ended.
---@type lsp.Handler
function M.session_ended(_, params, _)
  if type(params) ~= "table" or type(params.name) ~= "string" then
    return
  end
  ended_told[params.name] = true
  vim.api.nvim_exec_autocmds("User", { pattern = "CtaskSessionEnded", modeline = false, data = params })
  local opts = require("ctask.config").options
  if opts.notify and opts.notify_session_end then
    vim.notify(
      ("ctask: task %s: session ended%s; :Ctask diff %s shows its changes, :Ctask resume %s starts it again"):format(
        params.name,
        describe_summary(params.summary),
        params.name,
        params.name
      ),
      vim.log.levels.INFO
    )
  end
end

--- `window/showMessageRequest` (the fresh_remote adoption question): asked
--- through |vim.ui.select()|, answered when the user picks (or cancels).
---@type lsp.Handler
function M.show_message_request(_, params, _)
  local actions = type(params) == "table" and params.actions or {}
  if type(actions) ~= "table" or #actions == 0 then
    return vim.NIL
  end
  local co, is_main = coroutine.running()
  local message = require("ctask.client").one_line(params.message or "")
  local function format(action)
    return action.title
  end
  if not co or is_main then
    -- Not in the RPC coroutine (called by hand): no way to wait, so decline.
    return vim.NIL
  end
  vim.ui.select(actions, { prompt = "ctask: " .. message, kind = "ctask_adopt", format_item = format }, function(choice)
    -- Resume later: a synchronous vim.ui.select would otherwise resume before the yield.
    vim.schedule(function()
      coroutine.resume(co, choice or vim.NIL)
    end)
  end)
  return coroutine.yield()
end

--- `window/showMessage`: user-facing failures and notices, one line each.
---@type lsp.Handler
function M.show_message(_, params, _)
  if type(params) ~= "table" then
    return
  end
  local levels = { vim.log.levels.ERROR, vim.log.levels.WARN, vim.log.levels.INFO, vim.log.levels.DEBUG }
  local level = levels[params.type] or vim.log.levels.INFO
  if level == vim.log.levels.ERROR then
    return require("ctask.client").error(params.message or "")
  end
  vim.notify("ctask: " .. require("ctask.client").text(params.message or ""), level)
end

return M
