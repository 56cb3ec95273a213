-- The plugin as a Neovim package (|packages|): not on 'runtimepath' until
-- :packadd ctask (args: the temporary 'packpath' holds pack/x/opt/ctask);
-- then :help ctask (from the shipped doc/tags), :Ctask and setup() starting the server.
local H = dofile(vim.fs.joinpath(vim.fs.dirname(_G.arg[0]), "helper.lua"))
H.capture_notify()

H.observe("command_before", vim.fn.exists(":Ctask"))
H.observe("module_before", (pcall(require, "ctask")))
vim.cmd.packadd("ctask")
H.observe("command_after", vim.fn.exists(":Ctask"))

local helped = {}
for _, tag in ipairs({ "ctask", ":Ctask-remove", "ctask-install-packadd" }) do
  local ok, err = pcall(vim.cmd.help, tag)
  helped[tag] = ok and vim.fn.expand("%:t") or tostring(err)
  pcall(vim.cmd.helpclose)
end
H.observe("help", helped)

require("ctask").setup({})
local client = H.ready_client()
H.observe("server", client.server_info and client.server_info.name or vim.NIL)
vim.cmd("Ctask list")
H.wait(10000, function()
  return H.note_matching("^ctask: no tasks yet") ~= nil
end, ":Ctask list to answer")
H.observe("list", H.note_matching("^ctask: no tasks yet"))
H.observe("errors", H.messages_at(vim.log.levels.ERROR))
H.finish()
