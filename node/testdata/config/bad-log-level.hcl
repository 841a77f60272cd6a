name = "x"
data_dir = "/d"
log_level = "loud"
