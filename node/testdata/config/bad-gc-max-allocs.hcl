name = "p"
data_dir = "/tmp/x"
gc_max_allocs = 0
