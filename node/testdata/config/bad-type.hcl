name = 5
data_dir = "/d"
reserved {
  cpu = "lots"
}
