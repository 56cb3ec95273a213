-- Neovim reaches a running `ctask-ls --tcp` with setup{ cmd = vim.lsp.rpc.connect(...), token_file = ... }
-- (args: port, token_file?) and runs ctask.list there; without the token the server refuses it.
local H = dofile(vim.fs.joinpath(vim.fs.dirname(_G.arg[0]), "helper.lua"))
H.capture_notify()

require("ctask").setup({
  cmd = vim.lsp.rpc.connect("127.0.0.1", H.args.port),
  token_file = H.args.token_file,
})
local done, err, result = false, nil, nil
require("ctask.client").execute(require("ctask.protocol").commands.list, {}, function(e, r)
  done, err, result = true, e, r
end, { silent = true })
H.wait(30000, function()
  return done
end, "ctask.list over TCP")
H.observe("err", err and err.message or vim.NIL)
H.observe("result", result == nil and vim.NIL or result)
H.finish()
