package node

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// Store is the peer's state on disk (bbolt, data_dir/peer.db): its identity, every job
// entry it knows (with version and writer, tombstones included), and its own
// allocations. It is safe for concurrent use; each call is one bbolt transaction.
type Store struct {
	db *bolt.DB
}

var (
	bucketIdentity = []byte("identity")
	bucketJobs     = []byte("jobs")
	bucketAllocs   = []byte("allocs")
	bucketEpochs   = []byte("epochs")
)

// JobRecord is a job entry as it is replicated: the LWW key, the encoded job, and the
// (Version, Writer) pair that orders writes. Deleted marks a purge tombstone.
type JobRecord struct {
	Key     string
	Value   []byte
	Version uint64
	Writer  string
	Deleted bool
}

// OpenStore opens (creating) data_dir/peer.db. It fails fast, rather than hanging, if
// another peer process holds the file.
func OpenStore(dataDir string) (*Store, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data_dir %q: %w", dataDir, err)
	}
	path := filepath.Join(dataDir, "peer.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("opening %s: another peer is using this data_dir", path)
		}
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketIdentity, bucketJobs, bucketAllocs, bucketEpochs} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("initialising %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// NodeID returns this peer's identity, creating and persisting a random one on first
// use, so that a restarted peer rejoins as itself.
func (s *Store) NodeID() (string, error) {
	var id string
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketIdentity)
		if v := b.Get([]byte("node_id")); v != nil {
			id = string(v)
			return nil
		}
		var raw [16]byte
		if _, err := rand.Read(raw[:]); err != nil {
			return err
		}
		h := hex.EncodeToString(raw[:])
		id = h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
		return b.Put([]byte("node_id"), []byte(id))
	})
	return id, err
}

// PutJob stores a job entry if it is newer (Version, then Writer) than the one held.
func (s *Store) PutJob(r JobRecord) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketJobs)
		if old := b.Get([]byte(r.Key)); old != nil {
			var o JobRecord
			if json.Unmarshal(old, &o) == nil && !newer(r.Version, r.Writer, o.Version, o.Writer) {
				return nil
			}
		}
		v, err := json.Marshal(r)
		if err != nil {
			return err
		}
		return b.Put([]byte(r.Key), v)
	})
}

func newer(v uint64, w string, ov uint64, ow string) bool {
	return v > ov || (v == ov && w > ow)
}

// Jobs returns every job entry stored, tombstones included.
func (s *Store) Jobs() ([]JobRecord, error) {
	var out []JobRecord
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketJobs).ForEach(func(k, v []byte) error {
			var r JobRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("job %q in store: %w", k, err)
			}
			out = append(out, r)
			return nil
		})
	})
	return out, err
}

// PutAlloc stores one of this peer's allocations (encoded by the caller) under its id.
func (s *Store) PutAlloc(id string, value []byte) error {
	return s.put(bucketAllocs, id, value)
}

// PutAllocs stores several of this peer's allocations and named counters in one
// transaction (one fsync).
func (s *Store) PutAllocs(allocs map[string][]byte, counters map[string]uint64) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAllocs)
		for id, v := range allocs {
			if err := b.Put([]byte(id), v); err != nil {
				return err
			}
		}
		for name, v := range counters {
			if err := tx.Bucket(bucketIdentity).Put([]byte("counter."+name), []byte(fmt.Sprint(v))); err != nil {
				return err
			}
		}
		return nil
	})
}

// DeleteAlloc forgets one of this peer's allocations.
func (s *Store) DeleteAlloc(id string) error {
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketAllocs).Delete([]byte(id)) })
}

// Allocs returns this peer's allocations by id.
func (s *Store) Allocs() (map[string][]byte, error) {
	return s.all(bucketAllocs)
}

// PutEpoch remembers the highest coordination epoch seen for a job, so a restarted
// peer never accepts an older coordinator's award.
func (s *Store) PutEpoch(jobID string, e uint64) error {
	return s.put(bucketEpochs, jobID, []byte(fmt.Sprint(e)))
}

// Epochs returns the stored epochs by job id.
func (s *Store) Epochs() (map[string]uint64, error) {
	raw, err := s.all(bucketEpochs)
	out := make(map[string]uint64, len(raw))
	for k, v := range raw {
		var e uint64
		fmt.Sscan(string(v), &e)
		out[k] = e
	}
	return out, err
}

func (s *Store) put(bucket []byte, key string, value []byte) error {
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucket).Put([]byte(key), value) })
}

func (s *Store) all(bucket []byte) (map[string][]byte, error) {
	out := map[string][]byte{}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).ForEach(func(k, v []byte) error {
			out[string(k)] = append([]byte(nil), v...)
			return nil
		})
	})
	return out, err
}

// PutCounter and Counter keep small numbers across restarts (e.g. the version of this
// peer's gossip alloc table, so that others accept its rows after a restart).
func (s *Store) PutCounter(name string, v uint64) error {
	return s.put(bucketIdentity, "counter."+name, []byte(fmt.Sprint(v)))
}

// Counter returns a number stored with PutCounter (0 if none).
func (s *Store) Counter(name string) uint64 {
	var v uint64
	s.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketIdentity).Get([]byte("counter." + name)); b != nil {
			fmt.Sscan(string(b), &v)
		}
		return nil
	})
	return v
}

// RemoveDataDir deletes a peer's data dir (e.g. `peer run -dev`'s temp dir) safely: it
// first detaches every mount below it (the exec driver's read-only view of the host
// root, task overlays), so the removal can never walk into the host's filesystem.
func RemoveDataDir(dir string) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if b, err := os.ReadFile("/proc/self/mounts"); err == nil {
		var mounts []string
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(f[1], dir+"/") {
				mounts = append(mounts, f[1])
			}
		}
		sort.Sort(sort.Reverse(sort.StringSlice(mounts))) // deepest first
		for _, m := range mounts {
			if err := unix.Unmount(m, unix.MNT_DETACH); err != nil {
				return fmt.Errorf("unmounting %s before removing %s: %w", m, dir, err)
			}
		}
	}
	return os.RemoveAll(dir)
}
