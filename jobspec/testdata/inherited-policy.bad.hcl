job "inherit" {
  update {
    health_check = "check"
  }
  reschedule {
    delay_function = "linear"
  }
  group "a" {
    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
    }
  }
  group "b" {
    reschedule {
      attempts = -1
    }
    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
    }
  }
}
