job "fetch" {
  group "g" {
    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
      artifact {
        destination = "local/x"
      }
      artifact {
        source = "git::https://github.com/hashicorp/nomad-guides"
        options {
          ref = "main"
        }
      }
      artifact {
        source = "s3://my-bucket/app.tar.gz"
      }
      artifact {
        source = "github.com/hashicorp/nomad"
      }
      artifact {
        source = "https://example.com/app.tar.gz"
        mode   = "file"
        options {
          checksum = "sha265:abcd"
        }
      }
      artifact {
        source      = "https://example.com/app.bin"
        mode        = "dir"
        destination = "../../etc"
        options {
          checksum = "sha256:abcd"
          archive  = "rar"
        }
      }
      artifact {
        source      = "https://example.com/?checksum=md5:d41d8cd98f00b204e9800998ecf8427e"
        destination = "/etc/app"
        chown       = true
        options {
          checksum = "file:https://example.com/SHA256SUMS"
        }
        headers = {
          "Bad Header" = "x"
        }
      }
      artifact {
        source      = "https://example.com/app"
        mode        = "files"
        destination = "alloc/data"
      }
    }
  }
}
