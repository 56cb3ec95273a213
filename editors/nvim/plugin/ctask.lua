-- ctask: run coding agents in persistent tmux sessions (see :help ctask).
if vim.g.loaded_ctask then
  return
end
vim.g.loaded_ctask = true

vim.api.nvim_create_user_command("Ctask", function(opts)
  require("ctask.commands").run(opts)
end, {
  nargs = "*",
  bang = true,
  desc = "ctask: new|newrepo|resume|last|open|attach|stop|diff|log|list|status|remove",
  complete = function(arglead, cmdline, cursor)
    return require("ctask.commands").complete(arglead, cmdline, cursor)
  end,
})
