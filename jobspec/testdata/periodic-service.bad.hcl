job "web" {
  periodic {
    crons = ["*/5 * * * *"]
  }
  group "web" {
    task "srv" {
      driver = "exec"
      config {
        command = "/bin/sleep"
        args    = ["1000"]
      }
    }
  }
}
