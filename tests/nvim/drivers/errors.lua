-- Error paths: each server error is one vim.notify line at ERROR level, and
-- the server keeps answering afterwards.
local H = dofile(vim.fs.joinpath(vim.fs.dirname(_G.arg[0]), "helper.lua"))
H.capture_notify()
local ctask = require("ctask")
ctask.setup({})
H.ready_client()

local function errors()
  return H.messages_at(vim.log.levels.ERROR)
end

-- Each case: an Ex command and how many ERROR lines we expect after it.
local cases = {
  { "Ctask resume nope", "TaskNotFound" },
  { "Ctask new bad/name", "InvalidName" },
  { "Ctask attach idle", "NoSession" },
  { "Ctask frobnicate", "unknown subcommand" },
}
local results = {}
for i, case in ipairs(cases) do
  local err_kind
  if case[1] ~= "Ctask frobnicate" then
    -- The same request through the Lua API, to see data.kind.
    local done = false
    local words = vim.split(case[1], " ")
    ctask[words[2]](words[3], function(err)
      err_kind = err and err.data and err.data.kind
      done = true
    end)
    H.wait(10000, function()
      return done
    end, "the API call of " .. case[1])
  else
    vim.cmd(case[1])
  end
  H.wait(10000, function()
    return #errors() >= i
  end, "an ERROR notification after " .. case[1])
  results[#results + 1] = { command = case[1], kind = err_kind, message = errors()[i] }
end
H.observe("cases", results)

-- Same failure from the command line: still exactly one line each.
vim.cmd("Ctask resume nope")
H.wait(10000, function()
  return #errors() >= #cases + 1
end, "an ERROR notification for :Ctask resume nope")

-- The server is still fine.
local listed
ctask.list(function(err, result)
  listed = err == nil and #result or -1
end)
H.wait(10000, function()
  return listed ~= nil
end, "ctask.list after the errors")
H.observe("tasks_after_errors", listed)
vim.wait(300, function()
  return false
end) -- let any late duplicate (window/showMessage) arrive
H.observe("errors", errors())
H.finish()
