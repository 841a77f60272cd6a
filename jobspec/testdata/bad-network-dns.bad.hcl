job "web" {
  group "g" {
    network {
      hostname = "web_1.example"
      dns {
        servers = ["10.0.0.353", "dns.example.com"]
      }
    }
    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
    }
  }
  group "h" {
    network {
      dns {}
    }
    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
    }
  }
}
