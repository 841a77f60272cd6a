job "volumes" {
  group "g" {
    volume "data" {
      type   = "csi"
      source = "pg"
    }
    volume "cache" {
      type        = "hots"
      source      = "cache"
      access_mode = "single-node-writer"
    }
    volume "nosrc" {
      type = "host"
    }
    volume "data" {
      type   = "host"
      source = "again"
    }
    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
      volume_mount {
        volume      = "dat"
        destination = "srv/data"
      }
      volume_mount {
        volume           = "cache"
        destination      = "/proc/x"
        propagation_mode = "shared"
      }
      volume_mount {
        destination = "/a/../b"
      }
      volume_mount {
        volume = "cache"
      }
      volume_mount {
        volume      = "cache"
        destination = "/local"
      }
    }
  }
  group "h" {
    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
      volume_mount {
        volume      = "data"
        destination = "/data"
      }
    }
  }
}
