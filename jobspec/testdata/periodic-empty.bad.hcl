job "report" {
  type = "system"
  periodic {
    crons     = []
    time_zone = "Local"
  }
  group "run" {
    task "report" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
    }
  }
}
