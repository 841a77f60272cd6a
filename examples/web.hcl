# A small web service: busybox httpd in a container, reachable on port 8080 of
# each peer that runs it, health-checked over http and tcp.
job "web" {
  type = "service"

  group "web" {
    count = 2

    network {
      port "http" {
        static = 8080
        to     = 8080
      }
    }

    service {
      name = "web"
      port = "http"
      tags = ["frontend", "http"]

      check {
        name     = "index"
        type     = "http"
        path     = "/"
        interval = "10s"
        timeout  = "2s"
      }

      check {
        name     = "listening"
        type     = "tcp"
        interval = "5s"
        timeout  = "1s"
      }
    }

    # Two instances never share a peer.
    constraint {
      distinct_hosts = true
    }

    task "httpd" {
      driver = "container"

      config {
        image   = "busybox:latest"
        command = "sh"
        args    = ["-c", "mkdir -p /www && echo 'hello from Shoal' > /www/index.html && exec httpd -f -v -p 8080 -h /www"]
        ports   = ["http"]
      }

      resources {
        cpu    = 100
        memory = 32
      }
    }
  }
}
