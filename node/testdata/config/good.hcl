# A peer.hcl in Nomad agent shape.
name       = "web-1"
data_dir   = "/var/lib/shoal"
bind_addr  = "10.0.0.5"
advertise  = "10.0.0.5"
datacenter = "eu-west"
node_class = "web"
drivers    = ["exec"]
allow_caps = ["chown", "net_raw"]
log_level  = "warn"
log_format = "json"
enable_debug = true
encrypt    = "cg8StVXbQJ0gPvMd9o7yrg=="
join       = ["10.0.0.2"]

ports {
  http   = 5646
  rpc    = 5647
  gossip = 5648
}

server_join {
  retry_join     = ["10.0.0.3", "10.0.0.4:5648"]
  retry_interval = "15s"
}

meta {
  rack = "r1"
  tier = "gold"
}

reserved {
  cpu    = 500
  memory = 512
}

cni_path              = "/opt/cni/bin"
bridge_network_name   = "shoalbr"
bridge_network_subnet = "10.99.0.0/16"

alloc_gc_threshold = "30m"
job_gc_threshold = "2h"
gc_max_allocs      = 20
gc_interval        = "15s"
