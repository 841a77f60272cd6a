name = "x"
ports {
 http = 1
