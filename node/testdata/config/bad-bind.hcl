name = "x"
data_dir = "/d"
bind_addr = "not-an-ip"
