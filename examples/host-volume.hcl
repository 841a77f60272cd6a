# A task that keeps its data in a host volume: a directory of the peer's host, declared
# in the peer's config (or with -host-volume on `peer run`):
#
#   host_volume "notes" {
#     path = "/srv/shoal/notes"      # an existing directory the task's user may write:
#   }                                # exec tasks run as nobody unless user is set
#   host_volume "ca-certs" {
#     path      = "/etc/ssl/certs"
#     read_only = true              # jobs may only mount it read-only
#   }
#
# Only a peer with both volumes takes the group (`peer job plan` says "N peers lack host
# volume ..." otherwise). What the task writes to /data is in /srv/shoal/notes on the
# host, and stays there when the job stops.
job "notes" {
  group "writer" {
    volume "data" {
      type   = "host"
      source = "notes"
    }

    volume "certs" {
      type      = "host"
      source    = "ca-certs"
      read_only = true
    }

    task "write" {
      driver = "exec"

      config {
        command = "/bin/sh"
        args    = ["-c", "while true; do date >> /data/$NOMAD_ALLOC_ID.log; ls /certs | wc -l; sleep 10; done"]
      }

      volume_mount {
        volume      = "data"
        destination = "/data"
      }

      volume_mount {
        volume      = "certs"
        destination = "/certs"
      }

      resources {
        cpu    = 50
        memory = 32
      }
    }
  }
}
