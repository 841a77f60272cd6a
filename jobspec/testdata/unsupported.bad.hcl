job "cron" {
  type = "sysbatch"
  parameterized {
    payload = "required"
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
