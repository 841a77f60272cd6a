# Three sleepers run by the exec driver: the smallest job that shows placement.
job "sleep" {
  type = "service"

  group "sleepers" {
    count = 3

    task "sleep" {
      driver = "exec"

      config {
        command = "/bin/sleep"
        args    = ["3600"]
      }

      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
