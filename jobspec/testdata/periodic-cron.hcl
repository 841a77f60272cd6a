# Nomad's older form: one expression in cron; enabled = false keeps the job but
# launches nothing until it is resubmitted enabled (or forced).
job "cleanup" {
  type = "batch"
  periodic {
    cron    = "@daily"
    enabled = false
  }
  group "run" {
    task "clean" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
    }
  }
}
