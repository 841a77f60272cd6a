job "agent" {
  type = "system"

  group "agent" {
    task "agent" {
      driver = "exec"
      config {
        command = "/usr/bin/tail"
        args    = ["-F", "/var/log/syslog"]
      }
      resources {
        cpu    = 50
        memory = 64
      }
    }
  }
}
