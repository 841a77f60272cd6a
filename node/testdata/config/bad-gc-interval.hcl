name = "p"
data_dir = "/tmp/x"

gc_interval = "soon"
