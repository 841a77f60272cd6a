job "broken" {
  group "g" {
    count = = 3
    task "t" {
      driver = "exec"
    }
  }
