name = "x"
data_dir = "/d"
encrypt = "short"
