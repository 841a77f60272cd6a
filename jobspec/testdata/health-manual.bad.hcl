# Nomad's manual health marks allocations healthy through its API, which Shoal lacks.
job "web" {
  update {
    health_check = "manual"
  }
  group "g" {
    task "t" {
      driver = "exec"
      config {
        command = "/bin/sleep"
      }
    }
  }
}
