job "durations" {
  group "g" {
    restart {
      delay    = "15"
      interval = 30
    }
    task "t" {
      driver       = "exec"
      kill_timeout = "5 seconds"
      config {
        command = "/bin/true"
      }
    }
  }
}
