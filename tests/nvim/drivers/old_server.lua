-- A server of another protocol (an older ctask-ls, tests/nvim/old_server.py): the first
-- command fails with one line that says what to do, and nothing it would answer is used.
local H = dofile(vim.fs.joinpath(vim.fs.dirname(_G.arg[0]), "helper.lua"))
H.capture_notify()
require("ctask").setup({ cmd = H.args.cmd })
local done
require("ctask").list(function(err, result)
  done = { err = err and err.message or vim.NIL, result = result or vim.NIL }
end)
H.wait(15000, function()
  return done ~= nil
end, "ctask.list against the old server")
H.observe("err", done.err)
H.observe("result", done.result)
H.observe("errors", vim.tbl_map(function(n)
  return n.msg
end, H.notes_at(vim.log.levels.ERROR)))
H.finish()
