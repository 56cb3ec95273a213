-- The server's errors in Neovim's words (lua/ctask/messages.lua): each case of
-- args.cases ({error, context}) through messages.explain, and "`ctask CMD`"
-- snippets through messages.command. No server needed.
local H = dofile(vim.fs.joinpath(vim.fs.dirname(_G.arg[0]), "helper.lua"))
local messages = require("ctask.messages")

local explained = {}
for _, case in ipairs(H.args.cases) do
  explained[#explained + 1] = messages.explain(case.error, case.context)
end
H.observe("explained", explained)
H.observe("commands", vim.tbl_map(messages.command, H.args.commands))
H.finish()
