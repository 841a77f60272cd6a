job "counts" {
  group "g" {
    count = -1
    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
    }
  }
}
