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
    }
  }
}
