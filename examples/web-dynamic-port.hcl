# Three web servers on whatever peers have room, each on a free port the peer picks
# (20000-31999), as in Nomad: the task reads it from ${NOMAD_PORT_http}, and
# `peer alloc status ID` (or /v1/allocation/ID) shows where each one listens.
# Needs no image: busybox's httpd from the host (Debian's busybox-static).
job "web-dynamic" {
  group "web" {
    count = 3

    network {
      port "http" {}
    }

    task "httpd" {
      driver = "exec"

      config {
        command = "/bin/busybox"
        args    = ["httpd", "-f", "-p", "${NOMAD_PORT_http}", "-h", "/usr/share/doc"]
      }

      resources {
        cpu    = 50
        memory = 32
      }
    }
  }
}
