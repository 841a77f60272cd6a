name = "x"
data_dir = "/d"
datacentre = "dc1"
