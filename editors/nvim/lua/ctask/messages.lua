---@brief The server's words in Neovim's: its shell hints become `:Ctask` commands.
---
--- ctask-ls words its errors for every front door, so they end with what to
--- do at a shell prompt ("pass --force", "`ctask resume t1`"). `M.explain`
--- turns a failed command's error into one line in Neovim's terms: a hint
--- chosen by `data.kind` (and `data.reason`) replaces the server's, then a
--- conservative rewrite handles what is left; "by HOST pid N" says when that
--- process is this Neovim's own server.

local M = {}

---@class ctask.MessageContext
---@field sub? string The `:Ctask` subcommand that failed, e.g. "remove".
---@field name? string The task it acted on.
---@field own? {host?: string, pid: integer} This Neovim's ctask-ls, when known (|ctask-messages|).

--- CLI commands whose `:Ctask` subcommand has another name.
local SUBCOMMAND = { rm = "remove" }

--- Subcommands whose `!` is the CLI's `--force`.
local FORCIBLE = { remove = true }

--- CLI options of `ctask new` that are `key=VALUE` words of `:Ctask new`.
local KEYS = { agent = true, repo = true, branch = true, base = true }

--- The `:Ctask` subcommands (without loading commands.lua's dependencies).
---@param sub string
---@return boolean
local function is_subcommand(sub)
  return require("ctask.commands").subcommands[sub] ~= nil
end

--- A CLI command line (`rm t1 --force`) as Neovim runs it: `:Ctask remove! t1` when `:Ctask` has
--- the subcommand and every option, else `:!ctask ...` (a shell command).
---@param cli string the words after `ctask`
---@return string
function M.command(cli)
  local words = vim.split(vim.trim(cli), "%s+", { trimempty = true })
  local sub = SUBCOMMAND[words[1] or ""] or words[1]
  local args, bang = {}, false
  for i = 2, #words do
    if words[i] == "--force" and FORCIBLE[sub] then
      bang = true
    elseif words[i]:sub(1, 1) == "-" then
      return ":!ctask " .. vim.trim(cli)
    else
      args[#args + 1] = words[i]
    end
  end
  if not sub or not is_subcommand(sub) then
    return ":!ctask " .. vim.trim(cli)
  end
  return vim.trim((":Ctask %s%s %s"):format(sub, bang and "!" or "", table.concat(args, " ")))
end

--- `:Ctask SUB! NAME`, or nil when SUB has no `!` that forces.
---@param ctx ctask.MessageContext
---@return string?
local function forced(ctx)
  if ctx.sub and FORCIBLE[ctx.sub] then
    return vim.trim((":Ctask %s! %s"):format(ctx.sub, ctx.name or ""))
  end
end

--- Hints in Neovim's words, keyed on `data.kind` or `"KIND.REASON"`: each returns what to do
--- (replacing the server's, after its last "; "), or nil to keep the server's (rewritten).
---@type table<string, fun(ctx: ctask.MessageContext, message: string): string?>
M.hints = {
  TaskBusy = function(ctx)
    if ctx.sub == "remove" and ctx.name then
      return ("stop it first with :Ctask stop %s, or :Ctask remove! %s removes it anyway"):format(ctx.name, ctx.name)
    end
  end,
  NoSession = function(ctx)
    if ctx.sub == "attach" and ctx.name then
      return ("start one with :Ctask resume %s"):format(ctx.name)
    end
  end,
  LaunchFailed = function(ctx, message)
    if message:find("--fresh", 1, true) and ctx.name then
      return ("run :Ctask resume %s again and accept a new conversation"):format(ctx.name)
    end
  end,
  ["GitError.dirty"] = function(ctx)
    return ctx.name and ("commit or discard them, or :Ctask remove! %s removes it anyway"):format(ctx.name)
  end,
  ["GitError.unmerged"] = function(ctx)
    return ctx.name
      and (
        'merge them, or :Ctask remove! %s removes the task (its branch and commits are kept unless you choose "Remove and delete branch")'
      ):format(ctx.name)
  end,
  ["GitError.repo_missing"] = function(ctx)
    return ctx.name and (":Ctask remove! %s removes the task and its worktree files"):format(ctx.name)
  end,
}

--- "by HOST pid N": says so when N is this Neovim's own ctask-ls.
---@param text string
---@param own? {host?: string, pid: integer}
---@return string
function M.mark_own(text, own)
  if type(own) ~= "table" or type(own.pid) ~= "number" then
    return text
  end
  return (
    text:gsub("by (%S+) pid (%d+)", function(host, pid)
      if tonumber(pid) == own.pid and (own.host == nil or own.host == host) then
        return ("by this Neovim's ctask-ls (%s pid %s)"):format(host, pid)
      end
    end)
  )
end

--- The conservative rewrite of shell hints: "`ctask CMD ARGS`" -> ":Ctask CMD ARGS" (or
--- ":!ctask ..." when `:Ctask` has no such subcommand), "pass --force" -> "use :Ctask CMD!" (or
--- dropped when the subcommand has none), "pass --KEY" -> "give KEY=".
---@param text string
---@param ctx? ctask.MessageContext
---@return string
function M.rewrite(text, ctx)
  ctx = ctx or {}
  text = text:gsub("`ctask ([^`]*)`", M.command)
  local bang = forced(ctx)
  if bang then
    text = text:gsub("pass %-%-force", "use " .. bang)
  else
    text = text:gsub(",? or pass %-%-force[^;]*", ""):gsub(";? *pass %-%-force[^;]*", "")
  end
  text = text:gsub("pass %-%-(%l+)( ?)(%u*)", function(key, space, value)
    if not KEYS[key] then
      return nil
    end
    return value ~= "" and ("give %s=%s"):format(key, value) or ("give %s=%s"):format(key, space)
  end)
  text = text:gsub("give (%l+)= with ", "give %1= ")
  text = text:gsub("unless %-%-delete%-branch", 'unless you choose "Remove and delete branch"')
  return text
end

--- One line for a failed command's error, in Neovim's terms.
---@param err {message?: string, data?: table}|string
---@param ctx? ctask.MessageContext
---@return string
function M.explain(err, ctx)
  ctx = ctx or {}
  local message = type(err) == "table" and err.message or err
  message = vim.trim((tostring(message or "unknown error"):gsub("%s*\n%s*", " ")))
  local data = type(err) == "table" and type(err.data) == "table" and err.data or {}
  local kind = type(data.kind) == "string" and data.kind or nil
  local reason = type(data.reason) == "string" and data.reason or nil
  local hint_of = kind and (reason and M.hints[kind .. "." .. reason] or M.hints[kind])
  local hint = hint_of and hint_of(ctx, message)
  if hint then
    local what = message:match("^(.*); .-$") or message
    message = what .. "; " .. hint
  end
  return M.rewrite(M.mark_own(message, ctx.own), ctx)
end

return M
