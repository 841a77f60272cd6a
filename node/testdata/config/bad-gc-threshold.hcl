name = "p"
data_dir = "/tmp/x"
alloc_gc_threshold = 3600
