-- doc/ctask.txt has a help tag for every subcommand, option and API function
-- (taken from the plugin itself), and :helptags accepts the file.
local H = dofile(vim.fs.joinpath(vim.fs.dirname(_G.arg[0]), "helper.lua"))

local expected = { "ctask", ":Ctask", "ctask-health" }
for _, sub in ipairs(require("ctask.commands").names()) do
  expected[#expected + 1] = ":Ctask-" .. sub
end
local config = require("ctask.config")
local function options(prefix, tbl)
  for key, value in pairs(tbl) do
    local path = prefix and (prefix .. "." .. key) or key
    expected[#expected + 1] = "ctask-config-" .. path
    if type(value) == "table" and not vim.islist(value) and next(value) then
      options(path, value)
    end
  end
end
options(nil, config.defaults)
expected[#expected + 1] = "ctask-config-statusline.format" -- nil by default
for key in pairs(config.setting_types) do
  expected[#expected + 1] = "ctask-config-settings." .. key
end
for name, value in pairs(require("ctask")) do
  if type(value) == "function" then
    expected[#expected + 1] = ("ctask.%s()"):format(name)
  end
end
table.sort(expected)

-- :helptags on a copy (never write a tags file into the repository).
local doc = vim.api.nvim_get_runtime_file("doc/ctask.txt", false)[1]
H.check(doc ~= nil, "doc/ctask.txt is not on 'runtimepath'")
local dir = vim.fs.joinpath(vim.fn.tempname(), "ctaskdoc")
vim.fn.mkdir(vim.fs.joinpath(dir, "doc"), "p")
vim.fn.writefile(vim.fn.readfile(doc), vim.fs.joinpath(dir, "doc", "ctask.txt"))
local ok, err = pcall(vim.cmd.helptags, vim.fs.joinpath(dir, "doc"))
H.observe("helptags_error", not ok and tostring(err) or vim.NIL)
vim.opt.runtimepath:prepend(dir)

local missing = {}
for _, tag in ipairs(expected) do
  local found = pcall(vim.cmd.help, tag)
  if not found or vim.fn.expand("%:t") ~= "ctask.txt" then
    missing[#missing + 1] = tag
  end
  pcall(vim.cmd.helpclose)
end
H.observe("expected", expected)
H.observe("missing", missing)
H.finish()
