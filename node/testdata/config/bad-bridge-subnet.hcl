name = "web-1"
data_dir = "/var/lib/shoal"
bridge_network_subnet = "172.26.64.0"
