job "placement" {
  constraint {
    attribute = "${attr.kernel.name}"
    operator  = "~="
    value     = "linux"
  }
  affinity {
    attribute = "${node.datacenter}"
    value     = "dc1"
    weight    = 200
  }
  spread {
    attribute = "${node.datacenter}"
    target "dc1" {
      percent = 60
    }
    target "dc2" {
      percent = 50
    }
  }
  group "g" {
    constraint {
      attribute = "${meta.rack}"
      operator  = "regexp"
      value     = "r[0-9"
    }
    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
    }
  }
}
