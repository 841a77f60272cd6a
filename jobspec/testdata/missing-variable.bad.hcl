variable "image" {
  type = string
}

job "needs-var" {
  group "g" {
    task "t" {
      driver = "container"
      config {
        image = var.image
      }
    }
  }
}
