# Every problem in this file is reported at once.
job "many" {
  type     = "servce"
  priority = 0
  group "web" {
    count = -2
    network {
      mode = "hots"
      port "http" {
        static = 70000
      }
    }
    service {
      port = "web"
      check {
        type     = "grpc"
        interval = "0s"
        timeout  = "1s"
      }
    }
    task "srv" {
      driver = "container"
      kill_signal = "SIGTERN"
      config {
        command = "httpd"
      }
      resources {
        memory = 1
      }
    }
  }
}
