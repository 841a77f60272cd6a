job "web" {
  group "g" {
    network {
      mode     = "bridge"
      hostname = "web-${NOMAD_ALLOC_INDEX}"
      dns {
        servers  = ["10.0.0.53", "fd00::53"]
        searches = ["service.consul", "example.com"]
        options  = ["ndots:2", "edns0"]
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
