package jobspec

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// genJob draws an arbitrary job (not necessarily valid) in canonical form.
func genJob(t *rapid.T) *Job {
	str := rapid.StringMatching(`[a-z0-9\-_. "${}]{0,12}`)
	strs := rapid.SliceOfN(str, 0, 3)
	smap := rapid.MapOfN(str, str, 0, 4)
	dur := rapid.Custom(func(t *rapid.T) time.Duration { return time.Duration(rapid.Int64Range(-1e12, 1e13).Draw(t, "d")) })
	j := &Job{
		ID: str.Draw(t, "id"), Name: str.Draw(t, "name"), Type: rapid.SampledFrom(jobTypes).Draw(t, "type"),
		Datacenters: strs.Draw(t, "dcs"), Priority: rapid.IntRange(-5, 200).Draw(t, "prio"),
		Meta:    smap.Draw(t, "meta"),
		Version: rapid.Uint64().Draw(t, "version"),
	}
	for i, n := 0, rapid.IntRange(0, 3).Draw(t, "groups"); i < n; i++ {
		g := &Group{Name: str.Draw(t, "group"), Count: rapid.IntRange(-2, 100).Draw(t, "count"), Meta: smap.Draw(t, "gmeta"),
			Restart: &RestartPolicy{Attempts: rapid.IntRange(0, 9).Draw(t, "att"), Interval: dur.Draw(t, "ival"), Delay: dur.Draw(t, "delay"), Mode: str.Draw(t, "mode")},
		}
		if rapid.Bool().Draw(t, "net") {
			g.Network = &Network{Mode: str.Draw(t, "netmode"), Ports: []Port{{Label: str.Draw(t, "label"), Static: rapid.IntRange(0, 70000).Draw(t, "static")}}}
		}
		for k, m := 0, rapid.IntRange(0, 2).Draw(t, "tasks"); k < m; k++ {
			g.Tasks = append(g.Tasks, &Task{Name: str.Draw(t, "task"), Driver: rapid.SampledFrom(drivers).Draw(t, "driver"),
				Config:      TaskConfig{Image: str.Draw(t, "image"), Args: strs.Draw(t, "args")},
				Env:         smap.Draw(t, "env"),
				Resources:   Resources{CPU: rapid.IntRange(-1, 4000).Draw(t, "cpu"), MemoryMB: rapid.IntRange(-1, 4000).Draw(t, "mem")},
				KillTimeout: dur.Draw(t, "kill")})
			if rapid.Bool().Draw(t, "fetches") {
				g.Tasks[k].Artifacts = []Artifact{{Source: str.Draw(t, "src"), Mode: str.Draw(t, "amode"), Destination: str.Draw(t, "adest"),
					Options: smap.Draw(t, "aopts"), Headers: smap.Draw(t, "ahdrs")}}
			}
			if rapid.Bool().Draw(t, "hooked") {
				g.Tasks[k].Lifecycle = &Lifecycle{Hook: rapid.SampledFrom(append(lifecycleHooks, "")).Draw(t, "hook"),
					Sidecar: rapid.Bool().Draw(t, "sidecar")}
			}
		}
		j.Groups = append(j.Groups, g)
	}
	j.Canonicalize()
	return j
}

// TestEncodingProperties: for any job, the JSON and msgpack forms decode to an equal
// job, the hash ignores Version, and Canonicalize and Validate never panic.
func TestEncodingProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		j := genJob(t)
		_ = j.Validate()

		back, err := roundTrip(j)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := Encode(j)
		again, _ := Encode(back)
		if string(again) != string(b) {
			t.Fatal("encoding is not deterministic")
		}

		jb, err := json.Marshal(j)
		if err != nil {
			t.Fatal(err)
		}
		var fromJSON Job
		if err := json.Unmarshal(jb, &fromJSON); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(j, &fromJSON) {
			t.Fatalf("JSON round trip differs:\n%+v\n%+v", j, &fromJSON)
		}

		h := j.Hash()
		back.Version++
		if back.Hash() != h {
			t.Fatal("the hash depends on Version")
		}
	})
}
