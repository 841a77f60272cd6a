job "full" {
  name        = "Full example"
  type        = "service"
  datacenters = ["dc1", "dc2"]
  priority    = 70

  meta = {
    team = "web"
  }

  constraint {
    attribute = "${attr.kernel.name}"
    value     = "linux"
  }

  constraint {
    distinct_hosts = true
  }

  affinity {
    attribute = "${node.datacenter}"
    value     = "dc1"
    weight    = -40
  }

  spread {
    attribute = "${node.datacenter}"
    weight    = 80
    target "dc1" {
      percent = 60
    }
    target "dc2" {
      percent = 40
    }
  }

  update {
    max_parallel     = 2
    min_healthy_time = "30s"
    auto_revert      = true
  }

  reschedule {
    delay     = "1m"
    max_delay = "10m"
  }

  group "web" {
    count = 3

    meta {
      tier = "front"
    }

    constraint {
      attribute = "${meta.rack}"
      operator  = "regexp"
      value     = "^r[0-9]+$"
    }

    constraint {
      version = ">= 5.4"
      attribute = "${attr.kernel.version}"
    }

    restart {
      attempts = 5
      mode     = "delay"
    }

    reschedule {
      delay_function = "fibonacci"
    }

    update {
      canary = 1
    }

    network {
      mode = "bridge"
      port "http" {
        to = 8080
      }
      port "admin" {
        static = 9090
      }
    }

    service {
      name = "web"
      port = "http"
      tags = ["public", "v1"]
      check {
        type     = "http"
        path     = "/healthz"
        interval = "10s"
        timeout  = "2s"
      }
      check {
        name     = "admin-port"
        type     = "tcp"
        port     = "admin"
        interval = "30s"
        timeout  = "1s"
      }
    }

    ephemeral_disk {
      size   = 500
      sticky = true
    }

    task "server" {
      driver = "container"
      leader = true
      user   = "nobody"

      config {
        image      = "busybox:latest"
        entrypoint = ["/bin/sh", "-c"]
        args       = ["httpd -f -p 8080"]
        ports      = ["http", "admin"]
        work_dir   = "/srv"
      }

      env {
        PORT      = "${NOMAD_PORT_http}"
        DC        = "${node.datacenter}"
        LOG_LEVEL = "info"
        WORKERS   = 4
      }

      restart {
        attempts = 10
      }

      kill_timeout = "30s"
      kill_signal  = "SIGTERM"

      resources {
        cpu        = 250
        memory     = 128
        memory_max = 256
      }
    }

    task "sidecar" {
      driver = "exec"
      config {
        command = "/bin/sleep"
        args    = ["infinity"]
      }
      resources {
        cpu    = 10
        memory = 16
      }
    }
  }
}
