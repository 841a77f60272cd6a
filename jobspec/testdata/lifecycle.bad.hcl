job "hooks" {
  group "g" {
    task "init" {
      driver = "exec"
      lifecycle {
        hook    = "prestrat"
        sidecar = "yes"
      }
      config {
        command = "/bin/true"
      }
    }
    task "cleanup" {
      driver = "exec"
      lifecycle {
        sidecar = true
      }
      config {
        command = "/bin/true"
      }
    }
  }
  group "h" {
    task "cleanup" {
      driver = "exec"
      leader = true
      lifecycle {
        hook    = "poststop"
        sidecar = true
        order   = 1
      }
      config {
        command = "/bin/true"
      }
    }
  }
}
