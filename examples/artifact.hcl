# A web server whose site is fetched over HTTP when its task starts, as with Nomad's
# artifact block: the tar.gz is unpacked into local/site, and a plain file is saved
# under its own name. Serve the files first, on the peer's host:
#
#   mkdir -p /tmp/artifacts/site && echo '<h1>hello</h1>' >/tmp/artifacts/site/index.html
#   tar -C /tmp/artifacts -czf /tmp/artifacts/site.tar.gz site && echo 'v1' >/tmp/artifacts/VERSION
#   busybox httpd -p 127.0.0.1:8000 -h /tmp/artifacts
#
# then `peer job run examples/artifact.hcl` and `curl` the port `peer alloc status` shows.
# options { checksum = "sha256:<sha256sum of site.tar.gz>" } makes the peer refuse a
# download whose sum differs; only http and https sources are fetched.
variable "base_url" {
  default = "http://127.0.0.1:8000"
}

job "site" {
  group "web" {
    network {
      port "http" {}
    }

    task "httpd" {
      driver = "exec"

      config {
        command = "/bin/busybox"
        args    = ["httpd", "-f", "-p", "${NOMAD_PORT_http}", "-h", "/local/site"]
      }

      artifact {
        source      = "${var.base_url}/site.tar.gz"
        destination = "local/"
      }

      artifact {
        source = "${var.base_url}/VERSION"
        headers {
          User-Agent = "shoal-${NOMAD_JOB_ID}"
        }
      }

      resources {
        cpu    = 20
        memory = 32
      }
    }
  }
}
