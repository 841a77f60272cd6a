job "ports" {
  group "web" {
    network {
      port "http" {
        to = 80
      }
    }
    service {
      name = "web"
      port = "htpp"
      check {
        type     = "http"
        path     = "/"
        interval = "10s"
        timeout  = "2s"
      }
    }
    task "srv" {
      driver = "container"
      config {
        image = "busybox:latest"
        ports = ["http", "metrics"]
      }
    }
  }
}
