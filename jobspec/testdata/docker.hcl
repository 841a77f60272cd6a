# A Nomad docker job with Nomad-only settings: they are ignored with a warning.
job "docs" {
  region    = "global"
  namespace = "default"

  group "cache" {
    network {
      port "db" {
        to = 6379
      }
    }

    service {
      name     = "redis-cache"
      provider = "nomad"
      port     = "db"
    }

    task "redis" {
      driver = "docker"

      config {
        image          = "redis:7"
        ports          = ["db"]
        auth_soft_fail = true
      }

      identity {
        env  = true
        file = true
      }

      logs {
        max_files     = 3
        max_file_size = 10
      }

      resources {
        cpu    = 500
        memory = 256
      }
    }
  }
}
