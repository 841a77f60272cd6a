package jobspec

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary bytes to the parser: it must never panic, and whatever it
// accepts must validate again and survive the canonical encoding unchanged.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.hcl")
	examples, _ := filepath.Glob("../examples/*.hcl")
	for _, path := range append(seeds, examples...) {
		src, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	f.Add([]byte(generatedJob(3)))
	f.Fuzz(func(t *testing.T, src []byte) {
		job, diags := Load("fuzz.hcl", src, Options{Vars: map[string]string{"count": "2"}})
		if job == nil {
			if !diags.HasErrors() {
				t.Fatal("no job and no error")
			}
			return
		}
		if err := job.Validate(); err != nil {
			t.Fatalf("a parsed job does not validate again: %v", err)
		}
		if _, err := roundTrip(job); err != nil {
			t.Fatal(err)
		}
	})
}

// roundTrip encodes j, decodes it, and says how the result differs, if it does.
func roundTrip(j *Job) (*Job, error) {
	b, err := Encode(j)
	if err != nil {
		return nil, err
	}
	back, err := Decode(b)
	if err != nil {
		return nil, err
	}
	if !reflect.DeepEqual(j, back) {
		return back, fmt.Errorf("msgpack round trip differs:\nbefore: %+v\nafter:  %+v", j, back)
	}
	return back, nil
}

// generatedJob is a realistic job with n groups, each with a network, a service with
// two checks, constraints and two tasks, for the benchmark.
func generatedJob(n int) string {
	var b strings.Builder
	b.WriteString(`variable "image" {
  default = "busybox:latest"
}
job "big" {
  datacenters = ["dc1", "dc2"]
  constraint {
    attribute = "${attr.kernel.name}"
    value     = "linux"
  }
`)
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, `  group "g%d" {
    count = %d
    network {
      port "http" {
        to = 8080
      }
      port "metrics" {}
    }
    service {
      name = "svc-%d"
      port = "http"
      tags = ["a", "b"]
      check {
        type     = "http"
        path     = "/health"
        interval = "10s"
        timeout  = "2s"
      }
      check {
        type     = "tcp"
        port     = "metrics"
        interval = "30s"
        timeout  = "1s"
      }
    }
    spread {
      attribute = "${node.datacenter}"
      target "dc1" {
        percent = 50
      }
    }
    restart {
      attempts = 3
      delay    = "10s"
    }
    task "app" {
      driver = "container"
      config {
        image = var.image
        args  = ["httpd", "-f", "-p", "8080"]
        ports = ["http", "metrics"]
      }
      env {
        INDEX = "%d"
        NAME  = upper("g%d")
      }
      resources {
        cpu    = 200
        memory = 128
      }
    }
    task "log" {
      driver = "exec"
      config {
        command = "/bin/sleep"
        args    = ["3600"]
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
`, i, 1+i%5, i, i, i)
	}
	b.WriteString("}\n")
	return b.String()
}

func TestGeneratedJobParses(t *testing.T) {
	job, err := Parse("big.hcl", []byte(generatedJob(100)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(job.Groups) != 100 || len(job.Groups[99].Tasks) != 2 {
		t.Fatalf("want 100 groups of 2 tasks, got %d", len(job.Groups))
	}
}

func BenchmarkParse100Groups(b *testing.B) {
	src := []byte(generatedJob(100))
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("big.hcl", src, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeHash100Groups(b *testing.B) {
	job, err := Parse("big.hcl", []byte(generatedJob(100)), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = job.Hash()
	}
}

func BenchmarkValidate100Groups(b *testing.B) {
	job, err := Parse("big.hcl", []byte(generatedJob(100)), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := job.Validate(); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzValidateJSON feeds arbitrary JSON jobs (as the HTTP API receives them) to
// Canonicalize and Validate: they must never panic, and an accepted job must
// survive the canonical encoding.
func FuzzValidateJSON(f *testing.F) {
	f.Add([]byte(`{"ID":"a","TaskGroups":[{"Name":"g","Count":1,"Tasks":[{"Name":"t","Driver":"exec","Config":{"command":"/bin/true"}}]}]}`))
	f.Add([]byte(`{"ID":"a","TaskGroups":[null,{"Tasks":[null]}]}`))
	f.Add([]byte(`{"ID":"a","Spreads":[{"SpreadTarget":[{"Percent":200}]}],"TaskGroups":[{"Network":{"Ports":[{"Label":"x"}]},"Services":[{"PortLabel":"y","Checks":[{}]}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var job Job
		if json.Unmarshal(data, &job) != nil {
			return
		}
		job.Canonicalize()
		if job.Validate() != nil {
			return
		}
		if _, err := roundTrip(&job); err != nil {
			t.Fatal(err)
		}
	})
}
