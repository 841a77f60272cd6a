package gossip

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"
)

// loadKeyring builds the keyring: from the keyring file when it exists (it holds
// rotations made while running), else from cfg.SecretKey. It returns the file
// path serf should persist changes to ("" = none).
func loadKeyring(cfg Config, log *slog.Logger) (*memberlist.Keyring, string, error) {
	path := cfg.KeyringPath
	if path == "" && cfg.SnapshotPath != "" {
		path = filepath.Join(filepath.Dir(cfg.SnapshotPath), "keyring.json")
	}
	if path != "" {
		raw, err := os.ReadFile(path)
		switch {
		case err == nil:
			var encoded []string
			if err := json.Unmarshal(raw, &encoded); err != nil {
				return nil, "", fmt.Errorf("gossip: keyring file %s: %w (want a JSON list of base64 keys)", path, err)
			}
			keys := make([][]byte, 0, len(encoded))
			for i, e := range encoded {
				k, err := base64.StdEncoding.DecodeString(e)
				if err != nil {
					return nil, "", fmt.Errorf("gossip: keyring file %s: key %d: %w", path, i, err)
				}
				keys = append(keys, k)
			}
			if len(keys) == 0 {
				break
			}
			ring, err := memberlist.NewKeyring(keys, keys[0])
			if err != nil {
				return nil, "", fmt.Errorf("gossip: keyring file %s: %w", path, err)
			}
			if len(cfg.SecretKey) > 0 && !hasKey(keys, cfg.SecretKey) {
				log.Warn("configured SecretKey is not in the keyring file; using the file", "file", path)
			}
			return ring, path, nil
		case !errors.Is(err, os.ErrNotExist):
			return nil, "", fmt.Errorf("gossip: reading keyring file: %w", err)
		}
	}
	if len(cfg.SecretKey) == 0 {
		return nil, "", nil
	}
	ring, err := memberlist.NewKeyring(nil, cfg.SecretKey)
	if err != nil {
		return nil, "", fmt.Errorf("gossip: SecretKey: %w", err)
	}
	if path != "" {
		if err := writeKeyring(path, ring.GetKeys()); err != nil {
			return nil, "", err
		}
	}
	return ring, path, nil
}

func hasKey(keys [][]byte, k []byte) bool {
	for _, x := range keys {
		if string(x) == string(k) {
			return true
		}
	}
	return false
}

func writeKeyring(path string, keys [][]byte) error {
	encoded := make([]string, len(keys))
	for i, k := range keys {
		encoded[i] = base64.StdEncoding.EncodeToString(k)
	}
	raw, _ := json.MarshalIndent(encoded, "", "  ")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("gossip: keyring file: %w", err)
	}
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		return fmt.Errorf("gossip: writing keyring file: %w", err)
	}
	return nil
}

// keys returns the installed keys, primary first (nil without encryption).
func (p *Peer) keys() [][]byte {
	if p.ring == nil {
		return nil
	}
	primary := p.ring.GetPrimaryKey()
	out := [][]byte{primary}
	for _, k := range p.ring.GetKeys() {
		if string(k) != string(primary) {
			out = append(out, k)
		}
	}
	return out
}

// InstallKey adds key to every reachable peer's keyring (not yet used to send).
// Rotation: InstallKey(new); UseKey(new); RemoveKey(old). Each call fails when
// any peer failed or did not answer, listing them.
func (p *Peer) InstallKey(key []byte) error {
	return p.keyOp("install", key, p.serf.KeyManager().InstallKey)
}

// UseKey makes key (installed everywhere) the primary key for sending.
func (p *Peer) UseKey(key []byte) error {
	return p.keyOp("use", key, p.serf.KeyManager().UseKey)
}

// RemoveKey removes a non-primary key from every peer.
func (p *Peer) RemoveKey(key []byte) error {
	return p.keyOp("remove", key, p.serf.KeyManager().RemoveKey)
}

// ListKeys returns the keys installed cluster-wide and how many peers hold each.
func (p *Peer) ListKeys() (map[string]int, error) {
	if p.ring == nil {
		return nil, errors.New("gossip: ListKeys: encryption is not enabled on this peer")
	}
	resp, err := p.serf.KeyManager().ListKeys()
	if err != nil {
		return nil, fmt.Errorf("gossip: ListKeys: %w", keyRespErr(resp, err))
	}
	return resp.Keys, keyRespErr(resp, nil)
}

func (p *Peer) keyOp(op string, key []byte, f func(string) (*serf.KeyResponse, error)) error {
	if p.ring == nil {
		return fmt.Errorf("gossip: %s key: encryption is not enabled on this peer (set SecretKey)", op)
	}
	switch len(key) {
	case 16, 24, 32:
	default:
		return fmt.Errorf("gossip: %s key: %d bytes; must be 16, 24 or 32", op, len(key))
	}
	resp, err := f(base64.StdEncoding.EncodeToString(key))
	if err := keyRespErr(resp, err); err != nil {
		return fmt.Errorf("gossip: %s key: %w", op, err)
	}
	return nil
}

func keyRespErr(resp *serf.KeyResponse, err error) error {
	if resp == nil {
		return err
	}
	var problems []string
	for node, msg := range resp.Messages {
		problems = append(problems, node+": "+msg)
	}
	sort.Strings(problems)
	if resp.NumResp < resp.NumNodes {
		problems = append(problems, fmt.Sprintf("%d of %d peers answered", resp.NumResp, resp.NumNodes))
	}
	if err == nil && resp.NumErr == 0 && resp.NumResp >= resp.NumNodes {
		return nil
	}
	if err == nil {
		err = errors.New("key operation incomplete")
	}
	return fmt.Errorf("%w: %s", err, strings.Join(problems, "; "))
}
