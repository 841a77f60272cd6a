job "report" {
  type = "batch"
  periodic {
    crons            = ["*/5 * * * *", "61 * * * *", "every day"]
    cron             = "@hourly"
    prohibit_overlap = "sometimes"
    time_zone        = "Mars/Olympus_Mons"
    enable           = true
  }
  group "run" {
    task "report" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
    }
  }
}
