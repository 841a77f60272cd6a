job "fetch" {
  type = "batch"
  group "g" {
    task "t" {
      driver = "exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "cat /local/app/VERSION /local/config.json /secrets/token"]
      }
      # An archive, unpacked into local/app after its sum is checked.
      artifact {
        source      = "https://example.com/releases/app-1.2.tar.gz"
        destination = "local/app"
        options {
          checksum = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
        }
      }
      # A file saved as local/config.json, with run-time values in the URL and headers.
      artifact {
        source = "https://example.com/${attr.cpu.arch}/config.json"
        headers {
          User-Agent    = "shoal-${NOMAD_JOB_ID}"
          X-Nomad-Alloc = "${NOMAD_ALLOC_ID}"
        }
      }
      # One gzipped file, decompressed into the file destination names.
      artifact {
        source      = "http://127.0.0.1:8080/token.gz"
        mode        = "file"
        destination = "${NOMAD_SECRETS_DIR}/token"
        options {
          checksum = "md5:d41d8cd98f00b204e9800998ecf8427e"
          archive  = true
        }
      }
      # A zip kept as it is.
      artifact {
        source = "https://example.com/bundle.zip"
        options {
          archive = false
        }
      }
    }
  }
}
