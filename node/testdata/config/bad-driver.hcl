name = "x"
data_dir = "/d"
drivers = ["docker-ce"]
