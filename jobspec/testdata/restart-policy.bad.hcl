job "restarts" {
  group "g" {
    restart {
      attempts = 10
      interval = "1m"
      delay    = "15s"
      mode     = "retry"
    }
    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
    }
  }
}
