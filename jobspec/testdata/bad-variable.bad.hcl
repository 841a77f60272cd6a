variable "image" {
  default = "busybox:latest"
}

job "vars" {
  group "g" {
    count = vars.count
    task "t" {
      driver = "container"
      config {
        image   = var.imgae
        command = local.cmd
      }
    }
  }
}
