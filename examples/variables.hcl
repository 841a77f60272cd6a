# Variables, locals and functions, as in Nomad:
#   peer job inspect -var replicas=5 -var env=prod examples/variables.hcl
variable "image" {
  type        = string
  default     = "busybox:latest"
  description = "the image every task runs"
}

variable "replicas" {
  type    = number
  default = 2
}

variable "env" {
  type    = string
  default = "staging"
}

variable "datacenters" {
  type    = list(string)
  default = ["dc1"]
}

locals {
  name   = "greeter-${lower(var.env)}"
  memory = var.env == "prod" ? 128 : 48
}

job "greeter" {
  datacenters = var.datacenters

  meta {
    environment = upper(var.env)
    built_with  = format("%s x%d", var.image, var.replicas)
  }

  group "greeter" {
    count = var.replicas

    task "greet" {
      driver = "container"

      config {
        image   = var.image
        command = "sh"
        args    = ["-c", join(" ", ["while true; do echo", local.name, "; sleep 10; done"])]
      }

      env {
        GREETER_NAME = local.name
        REPLICAS     = var.replicas
      }

      resources {
        cpu    = max(50, 25 * var.replicas)
        memory = local.memory
      }
    }
  }
}
