name = "x"
data_dir = "/d"
ports {
  http = 70000
}
