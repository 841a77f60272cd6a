job "typos" {
  group "g" {
    cuont = 3
    task "t" {
      driver = "container"
      config {
        imgae = "busybox:latest"
      }
      resources {
        memroy = 64
      }
    }
  }
}
