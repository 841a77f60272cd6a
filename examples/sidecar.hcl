# Two tasks in one group always run together on the same peer: a leader that does
# the work and a helper that stops with it (leader = true).
job "pair" {
  group "pair" {
    network {
      mode = "bridge"
      port "http" {
        to = 8081
      }
    }

    task "main" {
      driver = "container"
      leader = true

      config {
        image   = "busybox:latest"
        command = "httpd"
        args    = ["-f", "-p", "8081"]
        ports   = ["http"]
      }

      resources {
        cpu    = 100
        memory = 32
      }
    }

    task "helper" {
      driver = "container"

      config {
        image   = "busybox:latest"
        command = "sh"
        args    = ["-c", "while true; do wget -q -O /dev/null http://127.0.0.1:8081/ || true; sleep 15; done"]
      }

      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
