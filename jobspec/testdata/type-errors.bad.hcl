variable "replicas" {
  type    = number
  default = "three"
}

job "types" {
  datacenters = "dc1"
  priority    = 1.5
  group "g" {
    count = "three"
    task "t" {
      driver = "exec"
      leader = "yes"
      env    = ["A=1"]
      config {
        command = "/bin/true"
        args    = "-v"
      }
    }
  }
}
