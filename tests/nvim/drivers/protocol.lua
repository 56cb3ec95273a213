-- Dumps lua/ctask/protocol.lua and the server settings the plugin knows, for
-- comparison with ctask_ls/server/protocol.py.
local H = dofile(vim.fs.joinpath(vim.fs.dirname(_G.arg[0]), "helper.lua"))
local protocol = require("ctask.protocol")
H.observe("commands", protocol.commands)
H.observe("notifications", protocol.notifications)
H.observe("adopt_actions", protocol.adopt_actions)
H.observe("launch_actions", protocol.launch_actions)
H.observe("settings_section", protocol.settings_section)
H.observe("setting_keys", vim.tbl_keys(require("ctask.config").setting_types))
H.observe("lsp_handlers", vim.tbl_keys(vim.lsp.config.ctask.handlers))
H.finish()
