package jobspec

import (
	"path/filepath"
	"testing"
)

// TestExamples parses every job file in examples/: they must all be valid, with
// no warnings except in the file that shows a Nomad job running unchanged.
func TestExamples(t *testing.T) {
	files, err := filepath.Glob("../examples/*.hcl")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 10 {
		t.Errorf("want at least 10 examples, have %d", len(files))
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			job, diags := LoadFile(path, Options{})
			if diags.HasErrors() {
				t.Fatalf("invalid example:\n%v", diags)
			}
			if w := diags.Warnings(); len(w) > 0 && filepath.Base(path) != "nomad-redis.hcl" {
				t.Errorf("unexpected warnings:\n%v", w)
			}
			if len(job.Groups) == 0 {
				t.Error("no groups")
			}
		})
	}
}
