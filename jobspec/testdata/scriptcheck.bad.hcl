job "sc" {
  group "g" {
    network {
      port "http" {}
    }
    service {
      name = "web"
      port = "http"
      check {
        type     = "script"
        interval = "5s"
        timeout  = "1s"
        task     = "web"
      }
      check {
        type     = "script"
        command  = "/bin/check"
        interval = "5s"
        timeout  = "1s"
      }
      check {
        type     = "script"
        command  = "/bin/check"
        task     = "wbe"
        interval = "5s"
        timeout  = "1s"
      }
      check {
        type     = "http"
        path     = "/"
        command  = "/bin/check"
        interval = "5s"
        timeout  = "1s"
      }
    }
    task "web" {
      driver = "exec"
      config {
        command = "/bin/sleep"
        args    = ["60"]
      }
    }
    task "side" {
      driver = "exec"
      config {
        command = "/bin/sleep"
        args    = ["60"]
      }
    }
  }
}
