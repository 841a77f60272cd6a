name = "p"
data_dir = "/tmp/x"
job_gc_threshold = "-1h"
