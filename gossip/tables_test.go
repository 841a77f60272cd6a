package gossip

import "testing"

// Writing a row's current value again publishes nothing: the table's version stays,
// and neither the others nor the owner's callbacks hear of it.
func TestTableUnchangedWriteIsNotPublished(t *testing.T) {
	c := newCluster(t, 1, nil)
	tb := c.peers[0].Table("infos")
	tb.SetOwn("k", []byte("v"))
	v := tb.Version(c.peers[0].Name())
	calls := make(chan string, 4)
	tb.OnChange(func(owner string) { calls <- owner })
	tb.SetOwn("k", []byte("v"))
	if got := tb.Version(c.peers[0].Name()); got != v {
		t.Errorf("version after rewriting the same value = %d, want %d (unchanged)", got, v)
	}
	tb.SetOwn("k", []byte("w"))
	if got := tb.Version(c.peers[0].Name()); got <= v {
		t.Errorf("version after a real change = %d, want more than %d", got, v)
	}
	if owner := <-calls; owner != c.peers[0].Name() {
		t.Errorf("callback for %q, want the owner", owner)
	}
	select {
	case extra := <-calls:
		t.Errorf("a second callback (%q): the unchanged write was published", extra)
	default:
	}
}
