job "report" {
  type = "batch"

  periodic {
    crons            = ["*/15 * * * *", "0 3 * * SUN"]
    prohibit_overlap = true
    time_zone        = "Europe/Berlin"
  }

  group "run" {
    task "report" {
      driver = "exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "date"]
      }
    }
  }
}
