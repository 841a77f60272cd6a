package node

import (
	"fmt"
	"testing"
	"time"

	"github.com/shoal-sched/shoal/jobspec"
	"github.com/shoal-sched/shoal/node/api"
	"github.com/shoal-sched/shoal/placement"
)

// The per-row cost clusterAllocs pays for every allocation of the cluster on every
// coordinator pass and API request: decoding a row (the first time it is seen) and
// copying its cached record (every later time).
func benchRecord() []byte {
	job := &jobspec.Job{ID: "web", Version: 3, Groups: []*jobspec.Group{{Name: "api", Count: 3,
		Tasks: []*jobspec.Task{{Name: "srv", Resources: jobspec.Resources{CPU: 100, MemoryMB: 128}}}}}}
	rec := allocRecord{Alloc: placement.NewAlloc(job, placement.Placement{Group: "api", Index: 1, JobVersion: 3, SpecHash: "0123456789abcdef"},
		"0b5e8f7c-1d2e-4f3a-9b8c-7d6e5f4a3b2c", "node-1", placement.Epoch(4), time.Now()), NodeName: "p1",
		TaskStates: map[string]api.TaskState{"srv": {State: "running", StartedAt: time.Now()}},
		PortMap:    map[string]int{"http": 23456}, HostIP: "10.0.0.5",
		Checks: map[string]api.CheckStatus{"web/page": {Service: "web", Name: "page", Type: "http", Status: "passing", Output: "HTTP 200 OK", Since: time.Now()}}}
	return encodeAlloc(rec)
}

func BenchmarkAllocRowDecode(b *testing.B) {
	row := benchRecord()
	for b.Loop() {
		if _, err := decodeAlloc(row); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAllocRowCached: clusterAllocs of a table of 100 unchanged rows, per row.
func BenchmarkAllocRowCached(b *testing.B) {
	n := tablesNode(b)
	row := benchRecord()
	rec, _ := decodeAlloc(row)
	for i := range 100 {
		rec.ID, rec.Index = fmt.Sprint(i), i
		n.allocs.SetOwn(rec.ID, encodeAlloc(rec))
	}
	n.clusterAllocs()
	for b.Loop() {
		n.clusterAllocs()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/100, "ns/row")
}
