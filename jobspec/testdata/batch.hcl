job "report" {
  type        = "batch"
  datacenters = ["dc1"]

  group "run" {
    count = 2
    task "report" {
      driver = "exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo done"]
      }
    }
  }
}
