# A service updated two allocations at a time; an allocation counts as healthy
# once its checks pass for 15s; a failed update reverts to the last good version.
job "api" {
  update {
    max_parallel     = 2
    min_healthy_time = "15s"
    healthy_deadline = "2m"
    auto_revert      = true
  }

  reschedule {
    delay          = "10s"
    delay_function = "exponential"
    max_delay      = "5m"
    unlimited      = true
  }

  group "api" {
    count = 6

    network {
      mode = "bridge"
      port "http" {
        to = 8000
      }
    }

    service {
      name = "api"
      port = "http"

      check {
        type     = "http"
        path     = "/index.html"
        interval = "5s"
        timeout  = "1s"
      }
    }

    task "api" {
      driver = "container"

      config {
        image    = "busybox:latest"
        command  = "sh"
        args     = ["-c", "echo ok > index.html && exec httpd -f -p 8000"]
        work_dir = "/tmp"
        ports    = ["http"]
      }

      kill_timeout = "20s"

      resources {
        cpu    = 150
        memory = 64
      }
    }
  }
}
