-- The ctask-ls configuration for vim.lsp.config / vim.lsp.enable (Neovim 0.11+).
-- Override any field with vim.lsp.config("ctask", {...}) or require("ctask").setup{}.
local protocol = require("ctask.protocol")

---@param name string
---@return lsp.Handler
local function handler(name)
  return function(...)
    return require("ctask.handlers")[name](...)
  end
end

---@type vim.lsp.Config
return {
  cmd = vim.deepcopy(require("ctask.config").defaults.cmd),
  -- No filetypes and no root: one server for every buffer, none needed.
  handlers = {
    [protocol.notifications.lease_state] = handler("lease_state"),
    [protocol.notifications.diff] = handler("diff"),
    [protocol.notifications.session_ended] = handler("session_ended"),
    [protocol.notifications.activity] = handler("activity"),
    ["window/showMessageRequest"] = handler("show_message_request"),
    ["window/showMessage"] = handler("show_message"),
  },
  -- The token of a `ctask-ls --tcp` server (setup{ token_file = ... }), read at each connection.
  before_init = function(params, _config)
    require("ctask.config").add_token(params)
  end,
  on_exit = function(code, signal, client_id)
    require("ctask.client").on_exit(code, signal, client_id)
  end,
}
