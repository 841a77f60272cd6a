variable "image" {
  type    = string
  default = "busybox:1.36"
}

variable "count" {
  type    = number
  default = 2
}

variable "dcs" {
  type    = list(string)
  default = ["dc1"]
}

variable "labels" {
  type = map(string)
  default = {
    app = "shop"
  }
}

variable "env" {
  default = "staging"
}

locals {
  name     = "${var.labels.app}-${local.suffix}"
  suffix   = lower(var.env)
  mem      = max(64, min(1024, var.count * 100))
  all_dcs  = distinct(concat(var.dcs, ["dc9"]))
}

job "vars" {
  datacenters = local.all_dcs

  meta = merge(var.labels, {
    env     = upper(var.env)
    summary = format("%s x%d", local.name, var.count)
    dcs     = join(",", local.all_dcs)
    json    = jsonencode({ n = length(var.dcs) })
    first   = element(split(",", "a,b,c"), 0)
    pick    = coalesce(null, "fallback")
  })

  group "app" {
    count = var.count

    task "app" {
      driver = "docker"
      config {
        image = var.image
        args  = [for s in ["a", "b"] : upper(s)]
      }
      resources {
        memory = local.mem
      }
    }
  }
}
