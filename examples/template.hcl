# A task whose config file is rendered when it starts: where every healthy instance
# of service "web" runs (run examples/canary.hcl first), and its own port, from the
# cluster's service catalog and the task's environment. An env = true template also
# sets environment variables. When web's instances change (scale it, or stop one), the
# file is rendered again and the task restarted (change_mode = "restart", the
# default) within splay; "signal" with change_signal, or "noop", keep it running.
job "proxy-config" {
  group "proxy" {
    network {
      port "http" {}
    }

    task "show" {
      driver = "exec"

      config {
        command = "/bin/sh"
        args    = ["-c", "cat /local/upstreams.conf; echo \"listening on $LISTEN\"; sleep 3600"]
      }

      template {
        destination = "local/upstreams.conf"
        data        = <<EOT
# rendered for {{ env "NOMAD_JOB_ID" }}
{{ range nomadService "web" }}server {{ .Address }}:{{ .Port }};
{{ end }}
EOT
      }

      template {
        destination = "secrets/app.env"
        env         = true
        data        = "LISTEN={{ env \"NOMAD_ADDR_http\" }}"
      }

      resources {
        cpu    = 20
        memory = 32
      }
    }
  }
}
