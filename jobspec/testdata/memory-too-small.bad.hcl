job "tiny" {
  group "g" {
    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
      resources {
        cpu        = -5
        memory     = 5
        memory_max = 4
      }
    }
  }
}
