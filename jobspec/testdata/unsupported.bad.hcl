job "cron" {
  type = "sysbatch"
  periodic {
    cron = "*/5 * * * *"
  }
  group "g" {
    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
    }
  }
}
