# Nomad docker options the container driver applies.
job "web" {
  group "g" {
    network {
      hostname = "group-name"
      dns {
        servers = ["10.0.0.53"]
      }
    }
    task "t" {
      driver = "docker"
      config {
        image              = "busybox:latest"
        readonly_rootfs    = true
        pids_limit         = 64
        hostname           = "web-${NOMAD_ALLOC_INDEX}"
        dns_servers        = ["10.0.0.2", "fd00::2"]
        dns_search_domains = ["service.internal"]
        dns_options        = ["ndots:1"]
        cap_drop           = ["all"]
        cap_add            = ["chown", "CAP_SETUID", "Setgid"]
        extra_hosts        = ["db.internal:10.0.0.5", "db6:fd00::5"]
      }
    }
  }
}
