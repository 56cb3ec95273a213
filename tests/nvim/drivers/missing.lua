-- Run after an init.lua that calls require("ctask").setup{} (twice, as a
-- plugin manager may) with no ctask-ls on PATH: what init.lua left in
-- :messages, what a command says, and what :checkhealth ctask says.
local H = dofile(vim.fs.joinpath(vim.fs.dirname(_G.arg[0]), "helper.lua"))
H.observe("messages", vim.split(vim.trim(vim.fn.execute("messages")), "\n", { trimempty = true }))
H.capture_notify()
vim.cmd("Ctask list")
H.wait(5000, function()
  return #H.notes > 0
end, ":Ctask list to say something")
H.observe("list", H.notes)
vim.cmd("checkhealth ctask")
H.wait(20000, function()
  return vim.bo.filetype == "checkhealth"
    and table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), "\n"):find("ctask: tasks", 1, true) ~= nil
end, "the checkhealth report")
H.observe("health", vim.api.nvim_buf_get_lines(0, 0, -1, false))
H.finish()
