job "drivers" {
  group "g" {
    task "typo" {
      driver = "dokcer"
      config {
        image = "busybox:latest"
      }
    }
    task "other" {
      driver = "raw_exec"
      config {
        command = "/bin/true"
      }
    }
  }
}
