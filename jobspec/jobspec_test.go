package jobspec

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata from the current output")

// goldenFiles returns testdata/*.hcl: the good ones (want *.json) or the bad ones
// (*.bad.hcl, want *.bad.txt).
func goldenFiles(t testing.TB, bad bool) []string {
	t.Helper()
	all, err := filepath.Glob("testdata/*.hcl")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range all {
		if strings.HasSuffix(f, ".bad.hcl") == bad {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		t.Fatal("no golden files in testdata")
	}
	return out
}

// varFiles returns testdata/X.varfile for testdata/X.hcl, if it exists.
func varFiles(path string) []string {
	vf := strings.TrimSuffix(path, ".hcl") + ".varfile"
	if _, err := os.Stat(vf); err == nil {
		return []string{vf}
	}
	return nil
}

func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (run go test ./jobspec -update to create it): %v", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs (run go test ./jobspec -update if the change is intended)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

func TestGoldenJobs(t *testing.T) {
	for _, path := range goldenFiles(t, false) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			job, diags := LoadFile(path, Options{VarFiles: varFiles(path)})
			if diags.HasErrors() {
				t.Fatalf("want no errors, got:\n%v", diags)
			}
			got, err := json.MarshalIndent(job, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, strings.TrimSuffix(path, ".hcl")+".json", append(got, '\n'))
		})
	}
}

func TestGoldenBadJobs(t *testing.T) {
	files := goldenFiles(t, true)
	if len(files) < 12 {
		t.Errorf("want at least 12 bad job files, have %d", len(files))
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			job, diags := LoadFile(path, Options{VarFiles: varFiles(path)})
			if !diags.HasErrors() {
				t.Fatalf("want errors, got none (job %+v)", job)
			}
			if job != nil {
				t.Errorf("want no job with errors, got %+v", job)
			}
			for _, d := range diags.Errors() {
				if d.File != path || d.Line == 0 || d.Message == "" {
					t.Errorf("diagnostic without file position or message: %#v", d)
				}
			}
			checkGolden(t, strings.TrimSuffix(path, ".hcl")+".txt", []byte(diags.Error()+"\n"))
		})
	}
}

// allJobs parses every good golden file and example.
func allJobs(t testing.TB) map[string]*Job {
	t.Helper()
	examples, _ := filepath.Glob("../examples/*.hcl")
	jobs := map[string]*Job{}
	for _, path := range append(goldenFiles(t, false), examples...) {
		job, err := ParseFile(path, nil, varFiles(path))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		jobs[path] = job
	}
	return jobs
}

func TestJSONRoundTrip(t *testing.T) {
	for path, job := range allJobs(t) {
		b, err := json.Marshal(job)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		var back Job
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if !reflect.DeepEqual(job, &back) {
			t.Errorf("%s: JSON round trip differs\nparsed:  %+v\ndecoded: %+v", path, job, &back)
		}
		if err := back.Validate(); err != nil {
			t.Errorf("%s: the decoded job does not validate: %v", path, err)
		}
		before := back.Hash()
		back.Canonicalize()
		if back.Hash() != before {
			t.Errorf("%s: Canonicalize changed a parsed job", path)
		}
	}
}

func TestMsgpackRoundTripAndHash(t *testing.T) {
	hashes := map[string]string{}
	for path, job := range allJobs(t) {
		if _, err := roundTrip(job); err != nil {
			t.Errorf("%s: %v", path, err)
		}
		h := job.Hash()
		if len(h) != 64 {
			t.Errorf("%s: hash %q is not a hex sha256", path, h)
		}
		if other, dup := hashes[h]; dup {
			t.Errorf("%s and %s hash the same", path, other)
		}
		hashes[h] = path
		// Parsing again (maps are iterated in a new random order) hashes the same.
		again, err := ParseFile(path, nil, varFiles(path))
		if err != nil {
			t.Fatal(err)
		}
		if again.Hash() != h {
			t.Errorf("%s: parsing twice gives hashes %s and %s", path, h, again.Hash())
		}
		again.Version = 7
		if again.Hash() != h {
			t.Errorf("%s: the hash depends on Version", path)
		}
		again.Groups[0].Count++
		if again.Hash() == h {
			t.Errorf("%s: the hash did not change with the count", path)
		}
	}
}

func TestHashIgnoresMapOrder(t *testing.T) {
	a := &Job{ID: "j", Meta: map[string]string{}}
	b := &Job{ID: "j", Meta: map[string]string{}}
	for i := 0; i < 50; i++ {
		k := string(rune('a'+i%26)) + strings.Repeat("x", i)
		a.Meta[k] = k
	}
	for i := 49; i >= 0; i-- {
		k := string(rune('a'+i%26)) + strings.Repeat("x", i)
		b.Meta[k] = k
	}
	ea, _ := Encode(a)
	eb, _ := Encode(b)
	if string(ea) != string(eb) || a.Hash() != b.Hash() {
		t.Error("equal maps encode differently")
	}
}

func TestDecodeRejectsGarbage(t *testing.T) {
	if _, err := Decode([]byte{0xc1, 0x00}); err == nil {
		t.Error("want an error decoding garbage")
	}
	if _, err := Encode(nil); err == nil {
		t.Error("want an error encoding a nil job")
	}
}

func TestSlotName(t *testing.T) {
	if got, want := SlotName("web", "api", 3), "web/api[3]"; got != want {
		t.Errorf("SlotName = %q, want %q", got, want)
	}
}

func TestInDatacenter(t *testing.T) {
	tests := []struct {
		dcs  []string
		dc   string
		want bool
	}{
		{[]string{"*"}, "dc1", true},
		{[]string{"dc1", "dc2"}, "dc2", true},
		{[]string{"dc1"}, "dc3", false},
		{[]string{"us-*"}, "us-east", true},
		{[]string{"us-*"}, "eu-west", false},
		{nil, "dc1", false},
	}
	for _, tc := range tests {
		if got := (&Job{Datacenters: tc.dcs}).InDatacenter(tc.dc); got != tc.want {
			t.Errorf("datacenters %q, InDatacenter(%q) = %v, want %v", tc.dcs, tc.dc, got, tc.want)
		}
	}
	j := validJob()
	j.Datacenters = []string{"dc[1"}
	if err := j.Validate(); err == nil || !strings.Contains(err.Error(), `datacenters[0]: "dc[1" is not a valid datacenter pattern`) {
		t.Errorf("want a bad pattern error, got %v", err)
	}
}
