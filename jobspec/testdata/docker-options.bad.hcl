job "web" {
  group "g" {
    task "t" {
      driver = "docker"
      config {
        image              = "busybox:latest"
        readonly_rootfs    = "yes please"
        pids_limit         = -1
        hostname           = "web_1"
        dns_servers        = ["dns.example.com"]
        dns_search_domains = ["a b"]
        cap_add            = ["net_rwa", "all"]
        cap_drop           = ["CAP_NOPE"]
        extra_hosts        = ["db", "db:10.0.0", "bad_name:10.0.0.5"]
      }
    }
    task "x" {
      driver = "exec"
      config {
        command         = "/bin/true"
        readonly_rootfs = true
        cap_add         = ["net_raw"]
      }
    }
  }
}
