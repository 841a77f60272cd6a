# Task lifecycle hooks, as in Nomad: "init" runs to completion before "work" starts,
# "heartbeat" (a prestart sidecar) runs beside it and is stopped once it is done,
# and "report" runs after it has ended (also when the job is stopped).
# "init" leaves a file in the allocation's shared directory (/alloc, NOMAD_ALLOC_DIR)
# that "work" reads. `peer alloc status ID` shows each task's start and finish;
# `peer alloc logs ID TASK` their output.
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
        args    = ["-c", "echo preparing; date > $NOMAD_ALLOC_DIR/data/prepared-at; sleep 2"]
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
        args    = ["-c", "trap 'exit 0' TERM; while true; do date; sleep 1; done"]
      }
    }

    task "work" {
      driver = "exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo working on what init prepared at $(cat /alloc/data/prepared-at); sleep 5; echo done"]
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
