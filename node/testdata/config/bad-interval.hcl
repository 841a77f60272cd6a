name = "x"
data_dir = "/d"
server_join {
  retry_interval = "soon"
}
