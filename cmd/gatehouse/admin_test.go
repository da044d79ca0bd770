package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// TestUserAdminCommands: gatehouse user add --admin, promote, demote,
// disable and enable change the account in the database, and gatehouse
// audit export writes each change as a JSON line, resumable after an id,
// with the operator as the actor and no password in it.
func TestUserAdminCommands(t *testing.T) {
	dir := t.TempDir()
	gatehouse := func(stdin string, args ...string) (string, int) {
		t.Helper()
		var out, errs bytes.Buffer
		code := run(append(args, "--data", dir), strings.NewReader(stdin), &out, &errs)
		return out.String() + errs.String(), code
	}
	const password = "a-long-password-for-root"
	steps := []struct {
		stdin string
		args  []string
		code  int
		says  string
	}{
		{password + "\n", []string{"user", "add", "root", "--email", "root@example.com", "--admin"}, 0, "a site administrator"},
		{"another-long-password\n", []string{"user", "add", "bob", "--email", "bob@example.com"}, 0, "created user bob"},
		{"", []string{"user", "promote", "bob"}, 0, "promoted bob"},
		{"", []string{"user", "demote", "bob"}, 0, "demoted bob"},
		{"", []string{"user", "disable", "bob"}, 0, "disabled bob"},
		{"", []string{"user", "promote", "nobody"}, 1, "not found"},
		{"", []string{"user", "frobnicate", "bob"}, 1, "usage"},
		{"", []string{"audit", "export", "--format", "csv"}, 1, "only jsonl"},
		{"", []string{"audit", "export", "--since", "yesterday-ish"}, 1, "is not a time"},
	}
	for _, s := range steps {
		out, code := gatehouse(s.stdin, s.args...)
		if code != s.code || !strings.Contains(out, s.says) {
			t.Errorf("%v: %d, want %d saying %q\n%s", s.args, code, s.code, s.says, out)
		}
	}

	st, err := store.OpenSQLite(t.Context(), filepath.Join(dir, "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	root, err := st.Q().UserByName(t.Context(), "root")
	if err != nil {
		t.Fatal(err)
	}
	bob, err := st.Q().UserByName(t.Context(), "bob")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if !root.Admin || bob.Admin || !bob.Disabled() {
		t.Errorf("root admin %v (want true); bob admin %v (want false), disabled %v (want true)", root.Admin, bob.Admin, bob.Disabled())
	}

	type line struct {
		ID     int64  `json:"id"`
		Action string `json:"action"`
		Actor  struct {
			TokenKind string `json:"token_kind"`
		} `json:"actor"`
		Target struct {
			User string `json:"user"`
		} `json:"target"`
	}
	export := func(args ...string) []line {
		t.Helper()
		out, code := gatehouse("", append([]string{"audit", "export"}, args...)...)
		if code != 0 {
			t.Fatalf("audit export %v: %d\n%s", args, code, out)
		}
		if strings.Contains(out, password) {
			t.Errorf("the export holds a password:\n%s", out)
		}
		var lines []line
		sc := bufio.NewScanner(strings.NewReader(out))
		for sc.Scan() {
			var l line
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				t.Fatalf("not a JSON line: %q: %v", sc.Text(), err)
			}
			lines = append(lines, l)
		}
		return lines
	}
	all := export("--since", "1h")
	var got []string
	for _, l := range all {
		if l.Actor.TokenKind != "operator" {
			t.Errorf("%s by %q, want the operator", l.Action, l.Actor.TokenKind)
		}
		got = append(got, l.Action+" "+l.Target.User)
	}
	want := []string{"admin.user_create root", "admin.user_create bob", "admin.promote bob", "admin.demote bob", "admin.disable bob"}
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Errorf("exported %q, want %q", got, want)
	}
	if len(all) == len(want) {
		rest := export("--after", jsonInt(all[2].ID))
		if len(rest) != 2 || rest[0].Action != "admin.demote" {
			t.Errorf("export after id %d: %+v, want the last two events", all[2].ID, rest)
		}
		if got := export("--action", "admin.promote"); len(got) != 1 {
			t.Errorf("export of admin.promote: %+v, want one event", got)
		}
	}
}

func jsonInt(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
