# A three-tier app: a frontend spread across datacenters, an API pinned to
# Linux peers of class "compute", and a cache that prefers fast disks.
job "shop" {
  datacenters = ["dc1", "dc2"]
  priority    = 60

  meta {
    owner = "team-shop"
  }

  constraint {
    attribute = "${attr.kernel.name}"
    value     = "linux"
  }

  group "frontend" {
    count = 4

    spread {
      attribute = "${node.datacenter}"
      weight    = 100

      target "dc1" {
        percent = 50
      }

      target "dc2" {
        percent = 50
      }
    }

    network {
      mode = "bridge"
      port "http" {
        to = 8080
      }
    }

    service {
      name = "shop-frontend"
      port = "http"

      check {
        type     = "http"
        path     = "/"
        interval = "10s"
        timeout  = "2s"
      }
    }

    task "web" {
      driver = "container"

      config {
        image   = "busybox:latest"
        command = "httpd"
        args    = ["-f", "-p", "8080"]
        ports   = ["http"]
      }

      env {
        API_ADDR = "${NOMAD_ADDR_http}"
      }

      resources {
        cpu    = 100
        memory = 64
      }
    }
  }

  group "api" {
    count = 2

    constraint {
      attribute = "${node.class}"
      value     = "compute"
    }

    constraint {
      distinct_hosts = true
    }

    network {
      mode = "bridge"
      port "api" {
        to = 9000
      }
    }

    service {
      name = "shop-api"
      port = "api"

      check {
        type     = "tcp"
        interval = "10s"
        timeout  = "2s"
      }
    }

    task "api" {
      driver = "container"

      config {
        image   = "busybox:latest"
        command = "nc"
        args    = ["-lk", "-p", "9000", "-e", "echo", "ok"]
        ports   = ["api"]
      }

      resources {
        cpu        = 300
        memory     = 128
        memory_max = 256
      }
    }
  }

  group "cache" {
    affinity {
      attribute = "${meta.disk}"
      value     = "ssd"
      weight    = 80
    }

    task "cache" {
      driver = "container"

      config {
        image   = "busybox:latest"
        command = "sleep"
        args    = ["infinity"]
      }

      resources {
        cpu    = 100
        memory = 128
      }
    }
  }
}
