# Two web servers in bridge network mode, as in Nomad: each allocation gets its own
# network namespace on the peer's bridge ("shoal", 172.26.64.0/20), both listen on
# port 8080 inside it, and the peer maps a free host port (20000-31999) to each.
# `peer alloc status ID` shows the host address and the allocation's own IP; the
# service check probes the host address. Needs the CNI reference plugins in
# /usr/lib/cni (Debian: containernetworking-plugins) and busybox's httpd from the
# host (Debian: busybox-static); no image.
job "web-bridge" {
  group "web" {
    count = 2

    network {
      mode = "bridge"
      port "http" {
        to = 8080
      }
    }

    service {
      name = "web-bridge"
      port = "http"
      check {
        type     = "http"
        path     = "/busybox-static/copyright"
        interval = "1s"
        timeout  = "1s"
      }
    }

    task "httpd" {
      driver       = "exec"
      kill_timeout = "1s"

      config {
        command = "/bin/busybox"
        # NOMAD_PORT_http is 8080 here: the port inside the allocation's namespace.
        args    = ["httpd", "-f", "-p", "${NOMAD_PORT_http}", "-h", "/usr/share/doc"]
      }

      resources {
        cpu    = 50
        memory = 32
      }
    }
  }
}
