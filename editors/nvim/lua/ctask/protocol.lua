---@brief Names shared with the server, defined once.
---
--- Mirrors `ctask_ls/server/protocol.py`: every command, notification, error
--- kind and lease state the client uses is spelled here and nowhere else.

local M = {}

--- The server's name, as `vim.lsp.config` and `vim.lsp.enable` know it.
M.name = "ctask"

--- `workspace/executeCommand` commands; each takes one object argument.
M.commands = {
  new = "ctask.new", -- {name, agent?, description?, args?, repo?, branch?, base?}
  resume = "ctask.resume", -- {name, agent?}
  last = "ctask.last", -- {agent?}
  open = "ctask.open", -- {name}
  attach = "ctask.attach", -- {name}
  list = "ctask.list", -- {}
  status = "ctask.status", -- {name}
  stop = "ctask.stop", -- {name}
  diff = "ctask.diff", -- {name}
  log = "ctask.log", -- {name, limit?}
  remove = "ctask.remove", -- {name, force?, delete_branch?}
}

--- Server -> client notifications.
M.notifications = {
  lease_state = "ctask/leaseState",
  diff = "ctask/diff",
  session_ended = "ctask/sessionEnded",
}

--- The four lease states of `inspect_lease` (SPEC 3.2).
M.lease_states = {
  missing = "missing",
  stale = "stale",
  fresh_local = "fresh_local",
  fresh_remote = "fresh_remote",
}

--- `data.kind` of the server's JSON-RPC errors (SPEC 4).
M.error_kinds = {
  "InvalidName",
  "InvalidArgument",
  "TaskNotFound",
  "TaskExists",
  "TaskBusy",
  "AgentNotFound",
  "TmuxNotFound",
  "TmuxError",
  "LaunchFailed",
  "NoSession",
  "CorruptMetadata",
  "LockTimeout",
  "AdoptionDeclined",
  "ConfigError",
  "GitNotFound",
  "GitError",
  "InternalError",
}

--- `data.reason` of a `GitError` that `ctask.remove` overrides with `force`.
M.forcible_git_reasons = { dirty = true, unmerged = true, repo_missing = true }

--- The branch `ctask.new` makes for a task on a repository when none is given.
---@param name string
---@return string
function M.default_branch(name)
  return "ctask/" .. name
end

--- The actions of the `fresh_remote` adoption question (`window/showMessageRequest`).
M.adopt_actions = { adopt = "Adopt", cancel = "Cancel" }

--- Key of the `settings` section the server reads (`workspace/configuration`).
M.settings_section = "ctask"

--- Answers of the `ctask.*` launching commands: `action` of `{task, action, session, terminal}`.
M.launch_actions = { launched = "launched", adopted = "adopted", passive = "passive", owned = "owned" }

return M
