# A container that says hello every five seconds (see `peer alloc logs`).
job "hello" {
  group "hello" {
    task "hello" {
      driver = "container"

      config {
        image   = "busybox:latest"
        command = "sh"
        args    = ["-c", "while true; do echo hello; sleep 5; done"]
      }

      resources {
        cpu    = 50
        memory = 32
      }
    }
  }
}
