# A canary rollout: submit this, change the image or args, submit again. The new
# version runs one canary beside the three old allocations; `peer job promote web`
# (or auto_promote = true) lets the rolling update replace the rest.
job "web" {
  update {
    max_parallel     = 1
    canary           = 1
    min_healthy_time = "5s"
    healthy_deadline = "1m"
    auto_promote     = false
  }

  group "web" {
    count = 3

    network {
      port "http" {}
    }

    service {
      name = "web"
      port = "http"
      check {
        type     = "http"
        path     = "/"
        interval = "2s"
        timeout  = "1s"
      }
    }

    task "httpd" {
      driver = "exec"

      config {
        command = "/bin/busybox"
        args    = ["httpd", "-f", "-p", "${NOMAD_PORT_http}", "-h", "/etc"]
      }

      resources {
        cpu    = 20
        memory = 32
      }
    }
  }
}
