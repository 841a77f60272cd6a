# A worker pool run by the exec driver: a host binary in its own namespaces and
# cgroup. If it crashes it is restarted in place, waiting between attempts
# rather than failing the allocation (mode = "delay").
job "worker" {
  group "workers" {
    count = 3

    restart {
      attempts = 5
      interval = "5m"
      delay    = "10s"
      mode     = "delay"
    }

    task "worker" {
      driver = "exec"
      user   = "nobody"

      config {
        command = "/bin/sh"
        args    = ["-c", "while true; do date; sleep 30; done"]
      }

      env {
        WORKER_SLOT = "${NOMAD_ALLOC_INDEX}"
      }

      meta {
        queue = "default"
      }

      resources {
        cpu    = 50
        memory = 24
      }
    }
  }
}
