# Task lifecycle hooks, as in Nomad: "init" runs to completion before "work" starts,
# "heartbeat" (a prestart sidecar) runs beside it and is stopped once it is done,
# and "report" runs after it has ended (also when the job is stopped).
# `peer alloc status ID` shows each task's start and finish; `peer alloc logs ID TASK`
# their output. Tasks have no shared alloc/ directory in Shoal: pass data through
# the network or an outside store, not files.
job "lifecycle" {
  type = "batch"

  group "g" {
    task "init" {
      driver = "exec"
      lifecycle {
        hook = "prestart"
      }
      config {
        command = "/bin/sh"
        args    = ["-c", "echo preparing; sleep 2"]
      }
    }

    task "heartbeat" {
      driver = "exec"
      lifecycle {
        hook    = "prestart"
        sidecar = true
      }
      config {
        command = "/bin/sh"
        args    = ["-c", "while true; do date; sleep 1; done"]
      }
    }

    task "work" {
      driver = "exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo working; sleep 5; echo done"]
      }
    }

    task "report" {
      driver = "exec"
      lifecycle {
        hook = "poststop"
      }
      config {
        command = "/bin/sh"
        args    = ["-c", "echo work finished"]
      }
    }
  }
}
