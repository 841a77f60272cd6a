job "dups" {
  group "api" {
    task "web" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
    }
    task "web" {
      driver = "exec"
      config {
        command = "/bin/false"
      }
    }
  }
  group "api" {
    task "x" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
    }
  }
}
