# A system job runs one allocation on every eligible peer: here a log shipper that
# follows the host's logs with the exec driver (a host command, isolated).
job "log-shipper" {
  type = "system"

  constraint {
    attribute = "${attr.kernel.name}"
    value     = "linux"
  }

  group "shipper" {
    task "tail" {
      driver = "exec"

      config {
        command = "/bin/sh"
        args    = ["-c", "exec tail -n 0 -F /var/log/syslog /var/log/messages 2>/dev/null"]
      }

      env {
        SHIPPER_NODE = "${node.unique.name}"
      }

      kill_timeout = "10s"
      kill_signal  = "SIGTERM"

      resources {
        cpu    = 50
        memory = 32
      }
    }
  }
}
