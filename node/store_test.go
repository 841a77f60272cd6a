package node

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestStoreIdentityPersists(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	id, err := s.NodeID()
	if err != nil || len(id) != 36 {
		t.Fatalf("NodeID = %q, %v; want a UUID", id, err)
	}
	if again, _ := s.NodeID(); again != id {
		t.Errorf("second NodeID = %q, want %q", again, id)
	}
	s.Close()
	s, err = OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if reopened, _ := s.NodeID(); reopened != id {
		t.Errorf("NodeID after reopening = %q, want %q (identity must survive a restart)", reopened, id)
	}
}

func TestStoreOneProcessPerDataDir(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = OpenStore(dir)
	if err == nil || !strings.Contains(err.Error(), "another peer is using this data_dir") {
		t.Errorf("second open: err = %v, want it to say another peer uses the data_dir", err)
	}
}

func TestStoreJobsLastWriterWins(t *testing.T) {
	s, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, r := range []JobRecord{
		{Key: "web", Value: []byte("v2"), Version: 2, Writer: "a"},
		{Key: "web", Value: []byte("v1"), Version: 1, Writer: "z"},  // older: ignored
		{Key: "web", Value: []byte("v2b"), Version: 2, Writer: "b"}, // same version, higher writer: wins
		{Key: "db", Value: nil, Version: 5, Writer: "a", Deleted: true},
	} {
		if err := s.PutJob(r); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Jobs()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]JobRecord{
		"web": {Key: "web", Value: []byte("v2b"), Version: 2, Writer: "b"},
		"db":  {Key: "db", Version: 5, Writer: "a", Deleted: true},
	}
	if len(got) != len(want) {
		t.Fatalf("Jobs() = %+v, want %d records", got, len(want))
	}
	for _, r := range got {
		w := want[r.Key]
		if string(r.Value) != string(w.Value) || r.Version != w.Version || r.Writer != w.Writer || r.Deleted != w.Deleted {
			t.Errorf("job %q = %+v, want %+v", r.Key, r, w)
		}
	}
}

func TestStoreAllocsAndCounters(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutAllocs(map[string][]byte{"a1": []byte("x"), "a2": []byte("y")}, map[string]uint64{"allocs_version": 7}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutAlloc("a1", []byte("x2")); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAlloc("a2"); err != nil {
		t.Fatal(err)
	}
	if err := s.PutEpoch("web", 3); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err = OpenStore(dir); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	allocs, _ := s.Allocs()
	if len(allocs) != 1 || string(allocs["a1"]) != "x2" {
		t.Errorf("allocs after reopen = %q, want only a1=x2", allocs)
	}
	if v := s.Counter("allocs_version"); v != 7 {
		t.Errorf("counter = %d, want 7", v)
	}
	if e, _ := s.Epochs(); e["web"] != 3 {
		t.Errorf("epochs = %v, want web=3", e)
	}
	if _, err := OpenStore(filepath.Join("/proc", "no-such-dir")); err == nil {
		t.Error("opening a store under /proc succeeded")
	}
}
