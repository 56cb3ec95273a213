-- :checkhealth ctask; prints the report's lines.
local H = dofile(vim.fs.joinpath(vim.fs.dirname(_G.arg[0]), "helper.lua"))
H.capture_notify()
require("ctask").setup({ cmd = H.args.cmd, autostart = false })
vim.cmd("checkhealth ctask")
H.wait(20000, function()
  return vim.bo.filetype == "checkhealth"
    and table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), "\n"):find("ctask: tasks", 1, true) ~= nil
end, "the checkhealth report")
H.observe("lines", vim.api.nvim_buf_get_lines(0, 0, -1, false))
H.finish()
