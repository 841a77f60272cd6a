name = "p"
enable_debug = "yes please"
