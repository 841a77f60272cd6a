job "web" {
  group "g" {
    network {
      hostname = "web_1.example"
      dns {
        servers  = ["10.0.0.353", "dns.example.com"]
        searches = ["a.example b.example"]
        options  = [""]
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
  group "k" {
    network {
      hostname = "a-hostname-of-sixty-four-characters-which-linux-will-not-take-xy"
    }
    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
    }
  }
}
