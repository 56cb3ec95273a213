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
  desc = "ctask: new|newrepo|resume|last|open|attach|stop|diff|log|list|status|remove|reconnect",
  complete = function(arglead, cmdline, cursor)
    return require("ctask.commands").complete(arglead, cmdline, cursor)
  end,
})

-- Statusline highlight of a task waiting for you (links to DiagnosticWarn unless a colorscheme sets it).
vim.api.nvim_set_hl(0, "CtaskNeedsInput", { link = "DiagnosticWarn", default = true })
vim.api.nvim_create_autocmd("ColorScheme", {
  group = vim.api.nvim_create_augroup("ctask_highlights", { clear = true }),
  callback = function()
    vim.api.nvim_set_hl(0, "CtaskNeedsInput", { link = "DiagnosticWarn", default = true })
  end,
})

-- <CR> on an entry of a task's quickfix list: the file in a diff split against its checkpoint (ctask.review).
vim.api.nvim_create_autocmd("FileType", {
  group = vim.api.nvim_create_augroup("ctask_quickfix", { clear = true }),
  pattern = "qf",
  callback = function(ev)
    vim.keymap.set("n", "<CR>", function()
      require("ctask.review").quickfix_enter()
    end, { buffer = ev.buf, desc = "ctask: open the entry (a task's change: in a diff split against its checkpoint)" })
  end,
})
