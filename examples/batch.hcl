# A batch job: four workers each compute a checksum and exit. Batch jobs run to
# completion; a failed one is restarted 3 times in 24h, then rescheduled once.
job "checksum" {
  type        = "batch"
  datacenters = ["dc1"]

  group "work" {
    count = 4

    restart {
      attempts = 1
      delay    = "5s"
      mode     = "fail"
    }

    task "sum" {
      driver = "container"

      config {
        image   = "busybox:latest"
        command = "sh"
        args    = ["-c", "dd if=/dev/urandom bs=1M count=16 2>/dev/null | sha256sum"]
      }

      resources {
        cpu    = 200
        memory = 64
      }
    }
  }
}
