job "t" {
  group "g" {
    task "t" {
      driver = "exec"
      config {
        command = "/bin/cat"
        args    = ["/local/app.conf"]
      }
      template {
        data        = "db = {{ key \"db/addr\" }}"
        destination = "local/db.conf"
      }
      template {
        data        = "port = {{ env \"NOMAD_PORT_http\" "
        destination = "/etc/app.conf"
        perms       = "rw"
      }
      template {
        destination = "../outside"
        change_mode = "reload"
        change_signal = "SIGHUP"
      }
      template {
        data           = "x"
        destination    = "secrets/x.env"
        left_delimiter = "[["
        source         = "local/x.tpl"
      }
      template {
        data        = "x"
        destination = "local/signal-without-signal"
        change_mode = "signal"
      }
      template {
        data          = "x"
        destination   = "local/bad-signal"
        change_mode   = "signal"
        change_signal = "SIGFOO"
        splay         = "-1s"
      }
      template {
        data          = "x"
        destination   = "local/signal-with-restart"
        change_signal = "SIGHUP"
        change_mode   = "script"
      }
      template {
        data          = "x"
        destination   = "local/signal-with-noop"
        change_mode   = "noop"
        change_signal = "SIGHUP"
      }
      template {
        data        = "x"
        destination = "local/script-with-restart"
        change_script {
          command = "/bin/reload"
        }
      }
      template {
        data        = "x"
        destination = "local/script-timeout"
        change_mode = "script"
        change_script {
          command = "/bin/reload"
          timeout = "0s"
          retries = 3
        }
      }
    }
  }
}
