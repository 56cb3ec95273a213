-- The lease cache on its own (no server): a ctask/leaseState is kept as it came
-- (the lease nested, as in task objects), a heartbeat that only moves
-- lease.heartbeat_at/age_s is not a change, and the heartbeat's age is
-- computed from lease.heartbeat_at, not from the age the server sent.
local H = dofile(vim.fs.joinpath(vim.fs.dirname(_G.arg[0]), "helper.lua"))
local state = require("ctask.state")

H.observe("epochs", {
  state.epoch("1970-01-01T00:00:00Z"),
  state.epoch("2025-01-01T00:00:00Z"),
  state.epoch("2025-01-01T01:00:00+01:00"),
  state.epoch("2024-02-29T23:59:59Z"),
  state.epoch("yesterday") or vim.NIL,
})

local function note(heartbeat_at, age_s, pid)
  return {
    name = "t1",
    workspace = "/tmp/ctask-state-driver/t1",
    lease = {
      state = "fresh_local",
      session_id = "box-4242-1",
      host = "box",
      pid = pid,
      heartbeat_at = heartbeat_at,
      age_s = age_s,
      reason = vim.NIL,
    },
    tmux_session = "ctask-t1",
    tmux_alive = true,
    owned_here = false,
  }
end

local first = state.update_lease(note("2000-01-01T00:00:00Z", 1.5, 4242))
local beat = state.update_lease(note("2000-01-01T00:00:05Z", 0.1, 4242))
local moved = state.update_lease(note("2000-01-01T00:00:10Z", 0.1, 4343))
local info = state.info("t1")
H.observe("changes", { first, beat, moved })
H.observe("kind", info.kind)
H.observe("lease", info.lease)
H.observe("age_s", info.age_s)
H.finish()
