job "blocks" {
  group "g" {
    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
      resorces {
        cpu = 100
      }
      sidecar_thing {
      }
    }
  }
}
