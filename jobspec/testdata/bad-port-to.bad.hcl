job "web" {
  group "g" {
    network {
      mode = "bridge"
      port "http" {
        to = 70000
      }
      port "admin" {
        to = -5
      }
    }
    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
    }
  }
}
