# Host volumes as in Nomad: the group asks for a volume a peer's config declares
# (host_volume "certs" { path = ... }), and tasks mount it.
job "volumes" {
  group "db" {
    volume "data" {
      type      = "host"
      source    = "pgdata"
    }
    volume "certs" {
      type      = "host"
      source    = "certs"
      read_only = true
    }
    task "postgres" {
      driver = "exec"
      config {
        command = "/bin/sleep"
        args    = ["3600"]
      }
      volume_mount {
        volume      = "data"
        destination = "/srv/pgdata"
      }
      volume_mount {
        volume           = "certs"
        destination      = "/certs"
        propagation_mode = "host-to-task"
      }
    }
    task "backup" {
      driver = "exec"
      config {
        command = "/bin/sleep"
        args    = ["3600"]
      }
      volume_mount {
        volume      = "data"
        destination = "/data"
        read_only   = true
      }
    }
  }
}
