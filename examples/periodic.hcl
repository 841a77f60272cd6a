# A periodic (cron) batch job, as in Nomad: the job itself runs nothing. At every tick
# of its crons (here every 15 minutes, and at 03:00 Berlin time), the peer that
# coordinates it launches a child batch job named report/periodic-<unix seconds>.
# prohibit_overlap skips a tick while an earlier child still runs.
#
#   peer job run examples/periodic.hcl
#   peer job status report                  # next launch, and the children launched
#   peer job periodic force report          # launch a child now
#   peer job stop report                    # no more launches; running children finish
job "report" {
  type = "batch"

  periodic {
    crons            = ["*/15 * * * *", "0 3 * * *"]
    prohibit_overlap = true
    time_zone        = "Europe/Berlin"
  }

  group "run" {
    task "report" {
      driver = "exec"

      config {
        command = "/bin/sh"
        args    = ["-c", "date; uptime"]
      }

      resources {
        cpu    = 50
        memory = 32
      }
    }
  }
}
